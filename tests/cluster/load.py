"""load.py — clients that POST runs to a URL for a while, and what they got.

usage: load.py URL SECONDS CLIENTS SCRIPT OUT.json
Each client sends the script again and again (JSON mode) until SECONDS have
passed; OUT.json lists every request: when it was sent and answered, the
status, whether the run was right (exit code 0 and the expected stdout,
"ok"), and Retry-After.
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.request

url, seconds, clients, script, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
body = json.dumps({"script": script}).encode()
results, lock = [], threading.Lock()
start = time.monotonic()


def client():
    while time.monotonic() - start < seconds:
        sent = time.monotonic() - start
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            r = urllib.request.urlopen(req, timeout=120)
        except urllib.error.HTTPError as e:
            r = e
        except Exception as e:	# no HTTP answer at all
            with lock:
                results.append({"sent": sent, "done": time.monotonic() - start, "status": 0, "ok": False,
                                "error": str(e)})
            continue
        text = r.read().decode(errors="replace")
        ok = False
        try:
            j = json.loads(text)
            ok = r.status == 200 and j.get("exit_code") == 0 and j.get("stdout") == "done\n"
        except ValueError:
            pass
        with lock:
            results.append({"sent": sent, "done": time.monotonic() - start, "status": r.status, "ok": ok,
                            "retry_after": r.headers.get("Retry-After"), "body": text[:200]})


threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
json.dump(results, open(out, "w"))
