# fcgi_client.py SOCKET MASTER_PID MODE: POST /api/run straight over FastCGI.
# SOCKET is a unix socket's path, or tcp:HOST:PORT.
#   reload  one request, with a reload (SIGHUP to the master) between the
#           connection's first record and its parameters: the moment a worker
#           has accepted it and waits for the rest inside libfcgi
#   silent  the same, with the reload before the first record: the worker
#           waits in libfcgi for the connection's first byte (up to 2 s)
#   keep    two requests on one connection the web server keeps
#           (FCGI_KEEP_CONN), as nginx's fastcgi_keep_conn does
#   hold    one request on a kept connection, which is then held open, idle,
#           for 10 s: its worker waits on it and takes nothing else
#   quiet   the first record, then nothing: the service must drop it
#   quiet-body  the parameters and 5 bytes of the body, then nothing
#   trickle one request whose answer is 8 MB, read 16 KiB every quarter of a
#           second for up to 60 s; prints also how long it read
#   flood   16 clients, each one request after another on a connection of
#           its own, for 12 s; prints how many answers had each status
#           (503-stopping: the master's, as the service stops)
# Prints each answer's stdout stream and whether its request ended.
import collections, os, signal, socket, struct, sys, threading, time

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
KEEP_CONN = 1


def record(kind, content, rid):
    return struct.pack("!BBHHBx", 1, kind, rid, len(content), 0) + content


def pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return length(len(name)) + length(len(value)) + name + value


def rest(rid, n, script=None):
    body = ('{"script": "print(6 * %d)"}' % n).encode() if script is None else script
    params = b"".join(pair(k, v) for k, v in {
        "REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/run", "SCRIPT_NAME": "/api/run",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "SERVER_PROTOCOL": "HTTP/1.1"}.items())
    return (record(PARAMS, params, rid) + record(PARAMS, b"", rid) +
            record(STDIN, body, rid) + record(STDIN, b"", rid))


def answer(s):
    """Reads records up to END_REQUEST or end-of-file; prints the stdout."""
    out, data = b"", b""
    while True:
        while len(data) >= 8:
            _, kind, _, length, padding = struct.unpack("!BBHHB", data[:7])
            if len(data) < 8 + length + padding:
                break
            if kind == STDOUT:
                out += data[8:8 + length]
            data = data[8 + length + padding:]
            if kind == END_REQUEST:
                print(out.decode("utf-8", "replace") + "\nend of request")
                return
        chunk = s.recv(65536)
        if not chunk:
            print(out.decode("utf-8", "replace") + "\nno end of request")
            return
        data += chunk


def connect(path):
    if path.startswith("tcp:"):     # tcp:HOST:PORT, a service on a TCP listener
        host, port = path[4:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    else:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
    s.settimeout(30)                # an answer that never comes fails, not hangs
    return s


def flood(path):
    statuses, end = collections.Counter(), time.time() + 12

    def client():
        while time.time() < end:
            try:
                s = connect(path)
                s.sendall(record(BEGIN_REQUEST, struct.pack("!HB5x", 1, 0), 1) + rest(1, 7))
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                s.close()
                status = data[data.find(b"Status: ") + 8:][:3] if b"Status: " in data else b"none"
                stopping = b"service is stopping" in data
                statuses[status.decode() + ("-stopping" if stopping else "")] += 1
            except OSError:
                statuses["refused"] += 1
                time.sleep(0.01)
    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join("%s:%d" % kv for kv in sorted(statuses.items())))


path, master, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode == "flood":
    flood(path)
    sys.exit(0)
s = connect(path)
try:
    if mode == "silent":
        time.sleep(0.2)         # a worker accepts and waits for a first byte
        os.kill(master, signal.SIGHUP)
        time.sleep(0.8)         # the master retires every worker
        s.sendall(record(BEGIN_REQUEST, struct.pack("!HB5x", 1, 0), 1) + rest(1, 7))
        answer(s)
    elif mode == "trickle":
        script = b'{"script": "import os\\nopen(\\"output/big\\", \\"wb\\").write(os.urandom(6 << 20))"}'
        s.sendall(record(BEGIN_REQUEST, struct.pack("!HB5x", 1, 0), 1) + rest(1, 0, script))
        start, data = time.time(), b""
        while time.time() - start < 60:
            time.sleep(0.25)
            chunk = s.recv(16384)
            if not chunk:
                break
            data += chunk
        ended = struct.pack("!BB", 1, END_REQUEST) in data[-16:]
        print("%s after %.0f s, %d bytes" % ("end of request" if ended else "no end of request",
                                            time.time() - start, len(data)))
    elif mode == "reload":
        s.sendall(record(BEGIN_REQUEST, struct.pack("!HB5x", 1, 0), 1))
        time.sleep(0.5)         # a worker accepts and waits for the parameters
        os.kill(master, signal.SIGHUP)
        time.sleep(1)           # the master retires every worker
        s.sendall(rest(1, 7))
        answer(s)
    elif mode == "quiet":
        s.sendall(record(BEGIN_REQUEST, struct.pack("!HB5x", 1, 0), 1))
        answer(s)
    elif mode == "quiet-body":
        whole = rest(1, 7)
        cut = whole.index(record(STDIN, b"", 1)) - 8 - len('{"script": "print(6 * 7)"}')
        s.sendall(record(BEGIN_REQUEST, struct.pack("!HB5x", 1, 0), 1) + whole[:cut] +
                  record(STDIN, b'{"scr', 1))
        answer(s)
    elif mode == "hold":
        s.sendall(record(BEGIN_REQUEST, struct.pack("!HB5x", 1, KEEP_CONN), 1) + rest(1, 7))
        answer(s)
        sys.stdout.flush()
        time.sleep(10)
    else:
        for rid, n in ((1, 7), (2, 8)):
            s.sendall(record(BEGIN_REQUEST, struct.pack("!HB5x", 1, KEEP_CONN), rid) + rest(rid, n))
            answer(s)
except OSError as e:
    print("the connection broke:", e)
