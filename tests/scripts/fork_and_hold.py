# fork_and_hold.py — a fork bomb that takes every process its run may have
# and holds them for 12 s, then prints "bomb held N".
import os
import time

n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(12)
            os._exit(0)
        n += 1
except OSError:
    pass
time.sleep(12)
print("bomb held", n)
