#!/bin/bash
# isolation.sh — scripts that try to reach outside their sandbox: host files,
# the network, host processes, privileges, kernel interfaces, the environment.
# Each check fails if the sandbox lets the attempt through.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/sandbox/lib.sh"

# --- host files -----------------------------------------------------------
secret="host-secret-$$-$RANDOM"
# In the environment of whoever starts the sandbox (and, warm, the template,
# which the first run below starts): see "environment of whoever" below.
export CODERUNNER_CALLER_SECRET=$secret
markers=(/tmp/coderunner-marker-$$ /root/coderunner-marker-$$ /etc/coderunner-marker-$$)
for m in "${markers[@]}"; do echo "$secret" >"$m"; chmod 644 "$m"; done
trap 'rm -f "${markers[@]}"; sb_cleanup' EXIT

sb <<EOF_PY
import os
for p in ["/tmp/coderunner-marker-$$", "/root/coderunner-marker-$$", "/etc/coderunner-marker-$$",
          "/proc/1/root/etc/coderunner-marker-$$", "../../etc/coderunner-marker-$$"]:
    try:
        print(p, open(p).read())
    except OSError as e:
        print(p, "denied", e.errno)
for d in ["/home", "/root", "/sys", "/run", "/var", "/boot", "/mnt", "/media", "/srv", "/opt"]:
    print(d, "exists" if os.path.exists(d) else "absent")
print(sorted(os.listdir("/")))
print(sorted(os.listdir("/etc")))
EOF_PY
is "$RC" 0 "a script that looks for host files runs"
unlike "$OUT" "$secret" "marker files planted in host /tmp, /root and /etc are not readable"
unlike "$OUT" " exists" "no /home, /root, /sys, /run, /var, /boot, /mnt, /media, /srv, /opt"
unlike "$OUT" "shadow|sudoers|ssh" "no credentials of the host in /etc"

# --- writing outside the work dir and /tmp --------------------------------
sb <<'EOF_PY'
import os
for p in ["/usr/coderunner-x", "/usr/lib/coderunner-x", "/etc/coderunner-x", "/coderunner-x",
          "/dev/coderunner-x", "/proc/coderunner-x", "/bin/coderunner-x"]:
    try:
        open(p, "w").write("x")
        print(p, "WRITTEN")
    except OSError as e:
        print(p, "denied", e.errno)
try:
    open("/proc/sys/kernel/hostname", "w").write("evil")
    print("sysctl WRITTEN")
except OSError as e:
    print("sysctl denied", e.errno)
# Writable by mode (0666), but only with CAP_SYS_ADMIN over the PID
# namespace: a run that could set it would choose the PIDs of what comes next.
try:
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write("100")
    print("ns_last_pid WRITTEN")
except OSError as e:
    print("ns_last_pid denied", e.errno)
open("/work/ok", "w").write("x"); open("/tmp/ok", "w").write("x"); print("work and tmp writable")
EOF_PY
unlike "$OUT" "WRITTEN" "nothing outside /work and /tmp can be written"
like "$OUT" "ns_last_pid denied 1\b" "the PID namespace's next PID cannot be set (EPERM)"
like "$OUT" "/usr/coderunner-x denied 30" "writing under /usr fails with EROFS"
like "$OUT" "work and tmp writable" "/work and /tmp are writable"

# A writable mount of the host's under a directory the sandbox binds (a
# /usr/local of its own, a container's bind under /usr) comes with the
# bind: it must be read-only too. Mounted on /usr/local/src (Debian's
# base-files makes it) in a mount namespace of this test's own, so the
# host is not touched; the cold run's root is built from that namespace.
# (The stage is the one every run's init calls: a warm run's template
# predates the namespace, so the cold run speaks for both.)
if [ "${SB_MODE:-cold}" = cold ] && [ -d /usr/local/src ]; then
	WORK=$(mktemp -d "$tmp_root/work.XXXXXX")
	chmod 0755 "$WORK"
	cat >"$WORK/main.py" <<'EOF_PY'
import os
for p in ["/usr/local/src/coderunner-x", "/usr/coderunner-x"]:
    try:
        open(p, "w").write("x"); print(p, "WRITTEN")
    except OSError as e:
        print(p, "denied", e.errno)
EOF_PY
	OUT=$(unshare -m --propagation private sh -c 'mount -t tmpfs -o mode=1777 coderunner-sub /usr/local/src &&
		"$1" --workdir "$2" --user nobody -- "$3" main.py' sh "$SB" "$WORK" "$PY" 2>&1)
	like "$OUT" "/usr/local/src/coderunner-x denied 30" "a writable host mount under /usr is read-only in the sandbox"
fi
[ ! -e /usr/coderunner-x ] && [ ! -e /etc/coderunner-x ] && [ ! -e /coderunner-x ]
ok $? "no file appeared on the host"

# --- network ---------------------------------------------------------------
sb <<'EOF_PY'
import socket, time, errno
for addr in [("192.0.2.1", 80), ("10.0.0.1", 443), ("8.8.8.8", 53), ("::ffff:93.184.216.34", 80)]:
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    t = time.monotonic()
    try:
        s.connect(addr); print(addr, "CONNECTED")
    except OSError as e:
        print(addr, "refused", errno.errorcode.get(e.errno), "in %.3f s" % (time.monotonic() - t))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", ("8.8.8.8", 53)); print("udp SENT")
except OSError as e:
    print("udp refused", errno.errorcode.get(e.errno))
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
c = socket.create_connection(srv.getsockname()); a, _ = srv.accept(); c.send(b"ping")
print("loopback", a.recv(4).decode())
print("interfaces", [n for _, n in socket.if_nameindex()])
EOF_PY
unlike "$OUT" "CONNECTED|SENT" "no connection or datagram leaves the sandbox"
like "$OUT" "\('192.0.2.1', 80\) refused ENETUNREACH in 0\.0" "connect to another address fails at once (ENETUNREACH)"
like "$OUT" "loopback ping" "loopback works inside"
like "$OUT" "interfaces \['lo'\]" "only the loopback interface exists"

# A unix socket that no path names, in the abstract namespace, which is the
# network namespace's: one the host (or the template, or a run beside) listens
# on, open to any uid, cannot be reached.
"$PY" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1]); s.listen(); time.sleep(600)' "coderunner-abstract-$$" &
holder=$!
for _ in $(seq 50); do grep -q "@coderunner-abstract-$$" /proc/net/unix && break; sleep 0.1; done
sb <<EOF_PY
import errno, socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\0coderunner-abstract-$$"); print("abstract CONNECTED")
except OSError as e:
    print("abstract refused", errno.errorcode.get(e.errno))
EOF_PY
kill "$holder"; wait "$holder" 2>/dev/null
is "$OUT" "abstract refused ECONNREFUSED" "a unix socket of the host's abstract namespace cannot be reached"

# Socket families past the network namespace: vsock reaches the hypervisor
# (and shares its port space with the host), AF_ALG and the rest are kernel
# code a script has no use for. Only local, IP and netlink sockets open.
sb <<'EOF_PY'
import ctypes, errno, socket
libc = ctypes.CDLL(None, use_errno=True)
def try_socket(name, family, kind):
    r = libc.socket(family, kind, 0)
    print(name, "opened" if r >= 0 else errno.errorcode[ctypes.get_errno()])
for name, family, kind in [("AF_VSOCK", 40, socket.SOCK_STREAM), ("AF_ALG", 38, socket.SOCK_SEQPACKET),
                           ("AF_PACKET", 17, socket.SOCK_DGRAM), ("AF_TIPC", 30, socket.SOCK_RDM),
                           ("AF_BLUETOOTH", 31, socket.SOCK_STREAM), ("AF_HYPERV", 43, socket.SOCK_STREAM)]:
    try_socket(name, family, kind)
# The family in the upper half of the 64-bit argument, which the kernel drops.
r = libc.syscall(41, ctypes.c_long((1 << 32) | 40), socket.SOCK_STREAM, 0)
print("AF_VSOCK_HIGH_BITS", "opened" if r >= 0 else errno.errorcode[ctypes.get_errno()])
r = libc.syscall(53, 40, socket.SOCK_STREAM, 0, ctypes.byref((ctypes.c_int * 2)()))
print("socketpair AF_VSOCK", "opened" if r >= 0 else errno.errorcode[ctypes.get_errno()])
for name, family, kind in [("AF_UNIX", 1, socket.SOCK_STREAM), ("AF_INET", 2, socket.SOCK_DGRAM),
                           ("AF_INET6", 10, socket.SOCK_STREAM), ("AF_NETLINK", 16, socket.SOCK_RAW)]:
    try_socket(name, family, kind)
# Netlink's other protocols: the host's device events reach every network
# namespace of the host's user namespace (NETLINK_KOBJECT_UEVENT, 15).
for name, proto in [("NETLINK_KOBJECT_UEVENT", 15), ("NETLINK_SOCK_DIAG", 4), ("NETLINK_AUDIT", 9)]:
    r = libc.socket(16, socket.SOCK_DGRAM, proto)
    print(name, "opened" if r >= 0 else errno.errorcode[ctypes.get_errno()])
EOF_PY
for fam in AF_VSOCK AF_ALG AF_PACKET AF_TIPC AF_BLUETOOTH AF_HYPERV AF_VSOCK_HIGH_BITS "socketpair AF_VSOCK"; do
	like "$OUT" "^$fam EAFNOSUPPORT$" "a socket of $fam cannot be opened"
done
for fam in AF_UNIX AF_INET AF_INET6 AF_NETLINK; do
	like "$OUT" "^$fam opened$" "one of $fam can"
done
for proto in NETLINK_KOBJECT_UEVENT NETLINK_SOCK_DIAG NETLINK_AUDIT; do
	like "$OUT" "^$proto EPROTONOSUPPORT$" "a netlink socket of $proto cannot be opened (only NETLINK_ROUTE)"
done

# --- host processes ----------------------------------------------------------
# A host process running as the very uid the sandbox uses: only the PID
# namespace keeps the script from seeing and killing it.
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 600 &
victim=$!
sleep 0.2
sb <<EOF_PY
import os, signal
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print("pids", sorted(pids, key=int))
found = False
for p in pids:
    try:
        if b"600" in open("/proc/%s/cmdline" % p, "rb").read():
            found = True
    except OSError:
        pass
print("host process visible" if found else "host process invisible")
for pid in [$victim, 1]:
    try:
        os.kill(pid, signal.SIGKILL); print("kill", pid, "SENT")
    except OSError as e:
        print("kill", pid, "failed", e.errno)
try:
    os.kill(-1, signal.SIGKILL)
except OSError as e:
    print("kill -1 failed", e.errno)
print("after kill -1")
EOF_PY
like "$OUT" "host process invisible" "a host process is not visible in /proc"
like "$OUT" "pids \['1', '2'\]" "/proc shows only the sandbox's init and the script"
kill -0 "$victim" 2>/dev/null
ok $? "kill(-1) and kill(host pid) from the script leave a host process of the same uid alive"
kill "$victim"; wait "$victim" 2>/dev/null

# /proc/locks lists file locks: those of processes outside the PID namespace
# are left out, but an open file description's lock (F_OFD_SETLK, as the
# service holds one per run's uid) belongs to no process and shows with its
# inode, so a run could count the runs under way. One is held on the host
# while the script looks, so the check cannot pass on an empty host.
lockfile=$(mktemp "$tmp_root/lock.XXXXXX")
/usr/bin/python3 -c '
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
time.sleep(600)' "$lockfile" &
locker=$!
lock_ino=$(stat -c %i "$lockfile")
for _ in $(seq 50); do grep -q "OFDLCK.*:$lock_ino " /proc/locks && break; sleep 0.1; done
grep -q "OFDLCK.*:$lock_ino " /proc/locks
ok $? "the host's /proc/locks shows an OFD lock held on the host"
sb <<EOF_PY
data = open("/proc/locks").read()
print("locks", len(data.splitlines()), ":$lock_ino " in data)
EOF_PY
is "$OUT" "locks 0 False" "/proc/locks in the sandbox shows none of the host's locks"
kill "$locker"; wait "$locker" 2>/dev/null; rm -f "$lockfile"

# init's command line, which /proc/1/cmdline shows any process, is the
# supervisor's: the host's work dir, the uid range, the cgroup.
sb <<'EOF_PY'
print(open("/proc/1/cmdline", "rb").read().rstrip(b"\0"))
EOF_PY
is "$OUT" "b'coderunner-sandbox'" "/proc/1/cmdline names no host path or option of the sandbox"
# Nor does the command's own memory hold options of the sandbox's or the
# template's, as a warm run's held the template's command line (host paths)
# as the kernel laid it out and in its copy. (The pattern's source has no
# option in it as the memory would: no NUL around it.)
sb <<'EOF_PY'
import ctypes, re
found = set()
option = re.compile(rb"\x00--(accept-fd|sandbox|cache|uid-lock|uid-range|preload|prestart|template-fd)\x00")
for line in open("/proc/self/maps"):
    f = line.split()
    if len(f) > 5 and f[5] in ("[stack]", "[heap]"):
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        found.update(m.group(1).decode() for m in option.finditer(ctypes.string_at(lo, hi - lo)))
print(sorted(found))
EOF_PY
is "$OUT" "[]" "the command's stack and heap hold no option of the sandbox's"
# Nor the environment of whoever started the sandbox: a cold run's exec
# leaves none of it, and a warm run's memory is a copy of the template's,
# whose stack held its keeper's as the kernel laid it out.
sb <<'EOF_PY'
import ctypes, re
caller = re.compile(rb"\x00CODERUNNER_CALLER_SECRET=")
n = 0
for line in open("/proc/self/maps"):
    f = line.split()
    if len(f) > 5 and f[5] in ("[stack]", "[heap]"):
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        n += len(caller.findall(ctypes.string_at(lo, hi - lo)))
print(n)
EOF_PY
is "$RC/$OUT" "0/0" "nor the environment of whoever started the sandbox"

# --- privileges ------------------------------------------------------------
sb <<'EOF_PY'
import os
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Uid", "Gid", "Groups"]:
    print(k, status.get(k, "").strip())
EOF_PY
for cap in CapPrm CapEff CapBnd CapAmb CapInh; do
	like "$OUT" "$cap 0000000000000000" "$cap is empty"
done
like "$OUT" "NoNewPrivs 1" "no_new_privs is set"
like "$OUT" "Seccomp 2" "a seccomp filter is in force"
like "$OUT" "Uid 65534	65534	65534	65534" "the script runs as the unprivileged user"
like "$OUT" "Groups $" "no supplementary groups"
# The OOM score a script starts with (1000: first to go) is a floor it
# cannot lower, where the sandbox holds CAP_SYS_RESOURCE to write it so (as
# under coderunner.service, whose -1000 would otherwise be the floor; the
# guest's system test tries it there). Without the capability, the floor is
# whoever started the sandbox's.
if (( 0x$(awk '$1 == "CapEff:" { print $2 }' /proc/self/status) >> 24 & 1 )); then
	sb <<'EOF_PY'
import os
def write(value):
    fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
    try:
        os.write(fd, value)
        return "lowered"
    except OSError as e:
        return e.strerror
    finally:
        os.close(fd)
print(write(b"999"), write(b"-1000"), open("/proc/self/oom_score_adj").read().strip())
EOF_PY
	is "$OUT" "Permission denied Permission denied 1000" "a script cannot lower its OOM score from 1000"
else
	skip "no CAP_SYS_RESOURCE here to make 1000 the floor" "a script cannot lower its OOM score from 1000"
fi

# --- kernel interfaces ---------------------------------------------------------
sb <<'EOF_PY'
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    r = getattr(libc, name)(*args)
    print(name, "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()])
NR = {"ptrace": 101, "bpf": 321, "clone": 56, "clone3": 435, "setns": 308, "keyctl": 250,
      "perf_event_open": 298, "userfaultfd": 323, "init_module": 175, "kexec_load": 246,
      "umount2": 166, "pivot_root": 155, "io_uring_setup": 425, "open_by_handle_at": 304,
      "inotify_init": 253, "io_setup": 206, "memfd_secret": 447}
def sys(name, *args):
    r = libc.syscall(NR[name], *args)
    print(name, "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()])
call("mount", b"none", b"/tmp", b"tmpfs", 0, None)
call("unshare", 0x10000000)           # CLONE_NEWUSER
call("unshare", 0x00020000)           # CLONE_NEWNS
call("unshare", 0x40000000)           # CLONE_NEWNET
sys("clone", 0x10000000 | 17, 0, 0, 0, 0)   # CLONE_NEWUSER|SIGCHLD
sys("ptrace", 0, 0, 0, 0)             # PTRACE_TRACEME
sys("bpf", 0, 0, 0)
sys("clone3", 0, 0)
sys("setns", 0, 0)
sys("keyctl", 0, 0, 0, 0)
sys("perf_event_open", 0, 0, 0, 0, 0)
sys("userfaultfd", 0)
sys("init_module", 0, 0, 0)
sys("kexec_load", 0, 0, 0, 0)
sys("umount2", b"/proc", 0)
sys("pivot_root", b".", b".")
sys("io_uring_setup", 1, 0)
sys("open_by_handle_at", 0, 0, 0)
# A watch on the host's shared /usr would show what other runs open there.
sys("inotify_init")
call("inotify_init1", 0)
# AIO contexts come from one pool for the whole host (fs.aio-max-nr).
sys("io_setup", 128, ctypes.byref(ctypes.c_ulong(0)))
# Its pages leave the host kernel's direct map, and hold memory no limit sees.
sys("memfd_secret", 0)
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitpid(pid, 0)[1] >> 8)
import threading; t = threading.Thread(target=lambda: None); t.start(); t.join(); print("thread ok")
EOF_PY
for call in "mount" "unshare" "clone" "ptrace" "bpf" "setns" "keyctl" "perf_event_open" \
	    "userfaultfd" "init_module" "kexec_load" "umount2" "pivot_root" "io_uring_setup" \
	    "open_by_handle_at" "inotify_init" "inotify_init1" "io_setup" "memfd_secret"; do
	unlike "$OUT" "^$call ok" "$call is refused"
done
is "$(printf '%s\n' "$OUT" | grep -c '^unshare EPERM')" 3 "unshare of user, mount and network namespaces fails with EPERM"
like "$OUT" "mount EPERM" "mount fails with EPERM"
like "$OUT" "clone EPERM" "clone with CLONE_NEWUSER fails with EPERM"
like "$OUT" "ptrace EPERM" "ptrace fails with EPERM"
like "$OUT" "bpf EPERM" "bpf fails with EPERM"
like "$OUT" "clone3 ENOSYS" "clone3 is refused (ENOSYS, so libc falls back to clone)"
like "$OUT" "fork 7" "plain fork still works"
like "$OUT" "thread ok" "threads still work"

# --- environment ---------------------------------------------------------------
CODERUNNER_HOST_SECRET=$secret AWS_SECRET_ACCESS_KEY=$secret sb <<'EOF_PY'
import os
for k, v in sorted(os.environ.items()):
    print("%s=%s" % (k, v))
import socket; print("hostname", socket.gethostname())
import pwd; print("user", pwd.getpwuid(os.getuid()).pw_name)
EOF_PY
unlike "$OUT" "$secret" "no host environment variable is visible"
is "$(printf '%s\n' "$OUT" | grep -v '^hostname\|^user' | cut -d= -f1 | tr '\n' ' ')" \
   "HOME LANG MPLBACKEND MPLCONFIGDIR PATH PYTHONDONTWRITEBYTECODE PYTHONIOENCODING PYTHONUNBUFFERED TMPDIR " \
   "the environment holds only the documented variables"
like "$OUT" "LANG=C.UTF-8" "LANG is C.UTF-8"
like "$OUT" "hostname sandbox" "the hostname is the sandbox's own"
like "$OUT" "user sandbox" "the uid has a name"

done_testing
