#!/bin/bash
# cli.sh — coderunner-sandbox's own faults are told apart from the command's.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/sandbox/lib.sh"

out=$("$SB" --timeout abc -- /bin/true 2>&1); rc=$?
is "$rc" 125 "a bad option value exits 125"
like "$out" "bad value for --timeout" "and names the option"
out=$("$SB" --timeout 1 2>&1); rc=$?
is "$rc" 125 "no command exits 125"
out=$("$SB" --user root -- /bin/true 2>&1); rc=$?
is "$rc" 125 "--user root is refused"
out=$("$SB" --bogus -- /bin/true 2>&1); rc=$?
like "$out" "unknown option --bogus" "an unknown option is named"
"$SB" --help | grep -q -- --workdir
ok $? "--help lists the options"

# Run from a terminal, the command has a session of its own, without that
# terminal: pushing input into it (TIOCSTI) would type into the caller's shell.
probe='import fcntl, os, termios
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"#")
    print("TIOCSTI typed")
except OSError as e:
    print("TIOCSTI", e.strerror)
print("own session", os.getsid(0) == os.getpid())'
# script(1) hands the line to $SHELL, which may be dash: no $'...' quoting,
# so the probe travels as hex.
hex=$(printf '%s' "$probe" | od -An -tx1 | tr -d ' \n')
out=$(SHELL=/bin/sh script -qec "$SB -- $PY -c 'exec(bytes.fromhex(\"$hex\"))'" /dev/null </dev/null | tr -d '\r')
like "$out" "TIOCSTI Operation not permitted" "a command on the caller's terminal cannot type into it"
like "$out" "own session True" "it leads a session of its own"

# Standard output connected to a named socket served by another process, as
# journald's is under systemd: a stream to write to, not a keeper to die with.
out=$("$PY" - "$SB" "$tmp_root/stdout.sock" <<'EOF_PY'
import os, socket, sys
sb, path = sys.argv[1:]
ready_r, ready_w = os.pipe()
r, w = os.pipe()
server = os.fork()
if server == 0:        # the socket's server (SO_PEERCRED names it): not the sandbox's parent
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen()
    os.write(ready_w, b"r")
    conn, _ = srv.accept()
    os.write(w, b"".join(iter(lambda: conn.recv(4096), b"")))
    os._exit(0)
os.close(w)
os.read(ready_r, 1)
run = os.fork()
if run == 0:
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    os.dup2(c.fileno(), 1)
    os.execv(sb, [sb, "--", "/bin/echo", "through the socket"])
status = os.waitstatus_to_exitcode(os.waitpid(run, 0)[1])
got = b"".join(iter(lambda: os.read(r, 4096), b""))
os.waitpid(server, 0)
print(got.decode().strip(), "/ exit", status)
EOF_PY
)
is "$out" "through the socket / exit 0" "a run whose stdout is a named socket of another process's runs"

# With the host's network (installs), its /etc/resolv.conf, also where that
# is a link into /run, as systemd-resolved makes it: the file is bound, not
# the link, which would name nothing inside. Tried in a mount namespace of
# the test's own, whose /etc is a copy with such a link.
# (The link's target is in /var, which the sandbox has not either; /tmp is
# where the sandbox builds its root, hiding the host's.)
etc_copy=$(mktemp -d "$tmp_root/etc.XXXXXX")
resolved=$(mktemp -d /var/tmp/coderunner-resolved.XXXXXX)
echo "nameserver 192.0.2.53" >"$resolved/stub-resolv.conf"
out=$(unshare -m --propagation private bash -c 'mount -t tmpfs etc "$1" && cp -a /etc/. "$1"/ &&
	ln -sfn "$2" "$1/resolv.conf" && mount --bind "$1" /etc &&
	exec "$3" --share-net -- "$4" -c "print(open(\"/etc/resolv.conf\").read().strip())"' \
	_ "$etc_copy" "$resolved/stub-resolv.conf" "$SB" "$PY" 2>&1)
rm -rf "$resolved"
is "$out" "nameserver 192.0.2.53" "--share-net: a resolv.conf that is a link out of /etc is read through"

rep=$("$SB" --workdir /nonexistent --report-fd 3 -- /bin/true 3>&1 2>/dev/null); rc=$?
is "$rc" 125 "a missing work dir is the sandbox's fault (125)"
like "$rep" '"exit_code":-1' "the report says exit_code -1"
like "$rep" '"error":"--workdir /nonexistent: No such file' "and why"

# A command that could not be started never ran: no exit status of its own.
rep=$("$SB" --report-fd 3 -- /nonexistent/cmd 3>&1 2>/dev/null); rc=$?
is "$rc" 125 "a command that does not exist is the sandbox's fault (125)"
like "$rep" '"exit_code":-1' "the report says exit_code -1"
like "$rep" '"error":"exec /nonexistent/cmd: No such file' "and why"
rep=$("$SB" --report-fd 3 -- /etc/hostname 3>&1 2>/dev/null); rc=$?
is "$rc" 125 "so is one that cannot be executed"
like "$rep" '"error":"exec /etc/hostname: Permission denied' "and the report says why"
rep=$("$SB" --report-fd 3 -- /bin/sh -c 'exit 0' 3>&1 2>/dev/null); rc=$?
is "$rc" 0 "a command that succeeds exits 0"
like "$rep" '"limits":\{"memory":"rlimit"' "the report names how memory is limited"

# A cgroup made for a run is removed even when setting it up fails. A plain
# directory stands in for a cgroup parent: the run's directory is made, then
# writing memory.max into it fails.
fake=$(mktemp -d "$tmp_root/cgroup.XXXXXX")
out=$("$SB" --cgroup "$fake" -- /bin/true 2>&1); rc=$?
is "$rc" 125 "a cgroup that cannot be set up is the sandbox's fault"
like "$out" "memory.max" "and the message names the file"
is "$(ls -A "$fake")" "" "the run's cgroup directory is removed on the way out"
# A SIGHUP (a reload retiring the pool) just after the run's cgroup is made
# ended the sandbox by its default action, the cgroup left behind; strace
# holds it there for a second after the mkdir.
if command -v strace >/dev/null; then
	fake=$(mktemp -d "$tmp_root/cgroup.XXXXXX")
	# (LeakSanitizer cannot work under ptrace.)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	strace -f -qq -o /dev/null -e trace=mkdir -e inject=mkdir:delay_exit=1000000 \
		"$SB" --cgroup "$fake" -- /bin/true >/dev/null 2>&1 &
	tracer=$!
	for _ in $(seq 100); do [ -n "$(ls -A "$fake")" ] && break; sleep 0.05; done
	pkill -HUP -f "^$SB --cgroup $fake"
	wait "$tracer"; rc=$?
	is "$rc/$(ls -A "$fake")" "125/" "a SIGHUP as the run's cgroup is made waits; the cgroup is removed on the way out"
else
	skip "strace is not installed" "a SIGHUP as the run's cgroup is made waits"
fi

# The report fd and other fds of the caller are not visible to the command.
exec 7>"$tmp_root/leak"
out=$("$SB" --report-fd 3 -- /bin/sh -c 'ls /proc/self/fd' 3>/dev/null 2>&1)
is "$(echo $out)" "0 1 2 3" "the command sees only stdin, stdout, stderr (and ls's own fd)"
out=$("$SB" --keep-fd 7 -- /bin/sh -c 'echo kept >&7' 2>&1)
is "$(cat "$tmp_root/leak")" kept "--keep-fd passes an fd through"
exec 7>&-
# An fd not open in the caller would be one the sandbox opens itself, such as
# the work dir: a directory of the host's tree, whose ".." leads out.
wd=$(mktemp -d "$tmp_root/wd.XXXXXX"); chmod 755 "$wd"
out=$("$SB" --workdir "$wd" --keep-fd 3 -- $PY -c 'import os
os.fchdir(3); os.chdir("../../../../../../.."); print(sorted(os.listdir(".")))' 3<&- 2>&1); rc=$?
is "$rc" 125 "--keep-fd of an fd the caller has not open is refused"
like "$out" "--keep-fd 3: the fd is not open" "and the message says so"
out=$("$SB" --report-fd 9 -- /bin/true 9<&- 2>&1); rc=$?
like "$rc/$out" "^125/coderunner-sandbox: --report-fd 9: the fd is not open" "so is a --report-fd not open"

# Closed standard fds are not taken over by the sandbox's own pipes.
rep=$("$SB" --report-fd 3 -- /bin/sh -c 'echo out; echo err >&2' 3>&1 1>&- 2>&-); rc=$?
is "$rc" 0 "a run with stdout and stderr closed works"
like "$rep" '^\{"exit_code":0' "and its output does not end up in the report"

# As a service runs it: an unprivileged user holding only the documented
# capabilities as ambient ones, as coderunner.service grants them.
caps=+sys_admin,+net_admin,+setuid,+setgid,+setpcap,+chown,+kill,+dac_read_search
svc=61001
stage=$(mktemp -d "$tmp_root/svc.XXXXXX")
mkdir -p "$stage/input/sub" "$stage/output"
echo data >"$stage/input/sub/f"
cat >"$stage/main.py" <<'EOF_PY'
import os
print(open("input/sub/f").read().strip(), os.getuid())
os.makedirs("output/d")
open("output/d/x.txt", "w").write("secret")
os.chmod("output/d/x.txt", 0)
os.chmod("output/d", 0o700)
if os.fork() == 0:
    os.setsid()
    os.execv("/bin/sleep", ["sleep", "76.5"])
EOF_PY
chown -R "$svc:$svc" "$stage"
out=$(setpriv --reuid=$svc --regid=$svc --clear-groups --inh-caps=$caps --ambient-caps=$caps \
	"$SB" --workdir "$stage" --report-fd 3 -- /usr/bin/python3 main.py 3>/dev/null 2>&1); rc=$?
is "$rc" 0 "a service user with only the documented ambient capabilities runs a script"
is "$out" "data 65534" "input arrives and the script runs as the sandbox user"
is "$(cat "$stage/output/d/x.txt" 2>&1)" secret "output it made unreadable comes back"
is "$(stat -c %u "$stage/output/d/x.txt")" $svc "owned by the service user"
! pgrep -f 'sleep 76.5' >/dev/null
ok $? "a process the run left behind is killed"
out=$(setpriv --reuid=$svc --regid=$svc --clear-groups --inh-caps=+sys_admin --ambient-caps=+sys_admin \
	"$SB" -- /bin/true 2>&1); rc=$?
is "$rc" 125 "without them the sandbox refuses to start"
like "$out" "missing capabilities: CAP_NET_ADMIN CAP_SETUID CAP_SETGID CAP_SETPCAP CAP_CHOWN CAP_KILL CAP_DAC_READ_SEARCH" \
	"and names every missing capability"

# A signal to the sandbox tears the run down and is reported as a fault.
"$SB" --report-fd 3 -- /bin/sleep 60 3>"$tmp_root/rep" 2>/dev/null &
pid=$!
sleep 0.5
kill -TERM "$pid"; wait "$pid"; rc=$?
is "$rc" 125 "SIGTERM to the sandbox ends the run as a fault"
like "$(cat "$tmp_root/rep")" "interrupted by signal 15" "the report says it was interrupted"
! pgrep -f '^/bin/sleep 60' >/dev/null
ok $? "the command is gone"

# The same with nobody left to read its stderr and its report (pipes, as a
# worker's are when its client hangs up): the writes fail, and the sandbox
# still ends as a fault, through its exit path (which removes its cgroup),
# not killed by SIGPIPE on the way.
rc=$("$PY" - "$SB" <<'EOF_PY'
import os, signal, subprocess, sys, time
err, rep = os.pipe(), os.pipe()
p = subprocess.Popen([sys.argv[1], "--report-fd", str(rep[1]), "--", "/bin/sleep", "61"],
                     stdout=subprocess.DEVNULL, stderr=err[1], pass_fds=[rep[1]])
for fd in err + rep:
    os.close(fd)
time.sleep(0.5)
p.send_signal(signal.SIGTERM)
print(p.wait())
EOF_PY
)
is "$rc" 125 "SIGTERM with its stderr and report unread: a fault, not death by SIGPIPE"
! pgrep -f '^/bin/sleep 61' >/dev/null
ok $? "the command is gone"

done_testing
