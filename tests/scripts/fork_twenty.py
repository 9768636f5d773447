# fork_twenty.py — forks 20 children, each alive for a second, and prints
# "UID N forked, M refused": a run within its own limits forks all 20.
import os
import time

kids, refused = [], 0
for _ in range(20):
    try:
        pid = os.fork()
    except OSError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(1)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print(os.getuid(), len(kids), "forked,", refused, "refused")
