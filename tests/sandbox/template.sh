#!/bin/bash
# template.sh — coderunner-template: warm runs, forked from an interpreter that
# has imported numpy, pandas and matplotlib.pyplot. Each must be a sandbox as
# strong as coderunner-sandbox's, see what `python3 -s main.py` in a fresh
# sandbox sees, share nothing with the runs before and after it, and leave
# the template unharmed whatever it does.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/sandbox/lib.sh"

TEMPLATE=$top_builddir/coderunner-template
STUB=$(cat "$top_srcdir/fcgi/running/runners/prestart.py")
CLIENT="$top_srcdir/tests/sandbox/prestart_client.py"
sock=$tmp_root/template.sock
FIRST=2000400000
LAST=2000400099
range=(--uid-range "$FIRST-$LAST" --uid-lock "$tmp_root/uids.lock")
# The processes with a uid of the range; and a wait of at most 5 s for
# none, while the kernel tears down those that have ended.
in_range() { ps -e -o uid= | awk -v a=$FIRST -v b=$LAST '$1 >= a && $1 <= b' | wc -l; }
none_left() { for _ in $(seq 50); do [ "$(in_range)" = 0 ] && return; sleep 0.1; done; }

# start_template [OPTION]...: a template on $sock; its pid in $template, and
# what it says on stdout in $tmp_root/template.out. With $cache, it keeps
# what each import brings in there (--cache); without, it finds it out.
cache=
start_template() {
	# Emptied here, not only by the redirection in the job, which may come
	# after the loop below has read the last template's "warm".
	rm -f "$sock"
	: >"$tmp_root/template.out"
	listen_exec "$sock" "$TEMPLATE" --preload numpy,pandas,matplotlib.pyplot --prestart 2 --sandbox "$SB" \
		${cache:+--cache "$cache"} "${range[@]}" \
		"$@" --accept-fd 3 -- "$PY" -s -c "$STUB" >"$tmp_root/template.out" 2>"$tmp_root/template.err" &
	template=$!
	for _ in $(seq 300); do grep -q warm "$tmp_root/template.out" && break; sleep 0.1; done
}
stage() {	# stage: a fresh work dir in $WORK with main.py from stdin
	WORK=$(mktemp -d "$tmp_root/work.XXXXXX")
	mkdir -p "$WORK/input" "$WORK/output"
	chmod 0755 "$WORK"
	cat >"$WORK/main.py"
}
warm() {	# warm [CLIENT-OPTION]...: run $WORK warm; sets RC, OUT, ERR, REPORT
	"$PY" "$CLIENT" "$sock" "$WORK" "$WORK" "$@" -- 0 0 "" main.py
	REPORT=$(cat "$WORK.report" 2>/dev/null)
	OUT=$(cat "$WORK.out" 2>/dev/null)
	ERR=$(cat "$WORK.err" 2>/dev/null)
	RC=$(report exit_code 2>/dev/null)
}
cold() {	# cold: run $WORK in a sandbox of its own, as python3 -s main.py
	"$SB" --workdir "$WORK" "${range[@]}" -- "$PY" -s main.py >"$WORK.out" 2>"$WORK.err" </dev/null
	RC=$?
	OUT=$(cat "$WORK.out")
	ERR=$(cat "$WORK.err")
}
cap_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# --- refusals -------------------------------------------------------------------
out=$("$TEMPLATE" --prestart 2 -- "$PY" 2>&1); rc=$?
is "$rc" 125 "without --preload the template refuses to start"
out=$("$TEMPLATE" --preload json --prestart 1 --sandbox "$SB" "${range[@]}" --accept-fd 3 -- /bin/sh -s -c x 2>&1 3</dev/null); rc=$?
is "$rc" 125 "with another interpreter than the one it embeds, it refuses"
like "$out" "is not the interpreter this template embeds" "and says why"

# (With --cache: what each import brings in it finds out, and keeps for the
# next template, below.)
cache=$tmp_root/imports
said() { grep -o 'what each import brings in: .*' "$tmp_root/template.err"; }
start_template
like "$(cat "$tmp_root/template.out")" "^warm $template .*\<numpy\>.*\<pandas\>" "the template imports the list and says it is warm, naming the modules it imported"
is "$(said)" "what each import brings in: found out, kept in $cache" \
	"with --cache and no file yet, it finds out what each import brings in, and keeps it"

# --- the template itself ----------------------------------------------------------
is "$(cap_field "$template" CapEff)" 0000000000000000 "the template runs with an empty effective capability set"
is "$(ls /proc/$template/task | wc -l)" 1 "and one thread"
is "$(findmnt -N "$template" -no FSTYPE,OPTIONS -T /tmp)" "$(findmnt -no FSTYPE,OPTIONS -T /tmp)" \
	"and sees the host's /tmp again after its imports, in their private one"
# Its children: the zygote (zygote.c), and each sandbox's supervisor, whose
# child is the run's init, whose child is the command (forkserver.c).
supervisors() { pgrep -P "$template" -x coderunner-sand; }
runs() {	# runs: "SUPERVISOR INIT COMMAND" for each sandbox with its command
	local s i c
	for s in $(supervisors); do
		i=$(pgrep -P "$s" | head -1)
		c=${i:+$(pgrep -P "$i" | head -1)}
		[ -n "$c" ] && echo "$s $i $c"
	done
}
sups=$(supervisors | wc -l)
waiting=$(runs | wc -l)
is "$sups/$waiting" 2/2 "it keeps --prestart sandboxes waiting, each with its init and command"
zygote=$(pgrep -P "$template" -x sandbox-zygote)
is "$(wc -w <<<"$zygote")/$(tr '\0' '\n' <"/proc/$zygote/cmdline" | sed -n 2,5p | paste -sd' ')" "1/--zygote 5 --template-fd 4" \
	"their supervisors are forked by its one zygote, coderunner-sandbox --zygote (zygote.c)"
zygote_socket=$(readlink "/proc/$zygote/fd/5")
held=$(for s in $(supervisors); do ls -l "/proc/$s/fd"; done | grep -cF -- "$zygote_socket")
is "$zygote_socket/$held" "${zygote_socket:-?}/0" "and none of them holds the zygote's socket"

# --- a waiting warm interpreter is as confined as a cold one ---------------------
read -r _ init cmd <<<"$(runs | head -1)"
# init holds its standard fds, the supervisor's socket, the command's
# control socket and the lock on its uid; nothing of the template's (its
# listening socket above all).
is "$(ls /proc/$init/fd | wc -l)" 6 "a waiting run's init holds only its own six fds"
listening=$(readlink /proc/$template/fd/3)
! ls -l /proc/$init/fd /proc/$cmd/fd | grep -qF "$listening"; ok $? "neither it nor its command holds the template's listening socket ($listening)"
is "$(awk '{ print $4 }' /proc/$cmd/stat)/$(ls /proc/$cmd/fd | wc -l)" "$(awk '$1 == "NSpid:" { print $2 }' /proc/$init/status)/5" \
	"its command is init's child and holds five fds: 0-4"
uid=$(awk '$1 == "Uid:" { print $2 }' /proc/$cmd/status)
[ "$uid" -ge $FIRST ] && [ "$uid" -le $LAST ]; ok $? "a waiting interpreter runs as a uid of the range ($uid)"
is "$(cap_field "$cmd" CapEff)/$(cap_field "$cmd" CapPrm)/$(cap_field "$cmd" CapBnd)" \
	"0000000000000000/0000000000000000/0000000000000000" "with every capability set empty"
is "$(cap_field "$cmd" NoNewPrivs)/$(cap_field "$cmd" Seccomp)" "1/2" "no_new_privs, and the seccomp filter"
same=0
for ns in mnt pid net ipc uts cgroup; do
	[ "$(readlink /proc/$cmd/ns/$ns)" = "$(readlink /proc/self/ns/$ns)" ] && same=$((same + 1))
done
is "$same" 0 "in namespaces of its own: mount, PID, network, IPC, UTS, cgroup"

# --- it sees what python3 -s main.py in a fresh sandbox sees ---------------------
stage <<'EOF_PY'
import os, sys
print("argv", sys.argv, "orig_argv", sys.orig_argv[1:])
print("main", __name__, __file__, sys.path[0], sorted(k for k in globals() if not k.startswith("__")))
print("modules", sorted(sys.modules))
print("environ", sorted(os.environ.items()))
print("flags", sys.flags)
print("fds", sorted(os.listdir("/proc/self/fd")))
print("pid", os.getpid(), os.getppid(), "cwd", os.getcwd(), "umask", os.umask(0o22))
print("comm", open("/proc/self/comm").read().strip())
print("groups", os.getgroups(), "gid == uid", os.getgid() == os.getuid())
print("stdio", [(f.name, f.mode, f.encoding, f.errors, f.line_buffering, f.write_through, f.isatty(),
                 f.seekable(), f.buffer.seekable(), f.buffer.raw.seekable()) for f in (sys.stdin, sys.stdout, sys.stderr)])
import pandas, numpy, matplotlib.pyplot, PIL.Image
def charting():
    pil = [PIL.Image.ID, PIL.Image._initialized] + [list(getattr(PIL.Image, t)) for t in
        ("OPEN", "SAVE", "SAVE_ALL", "MIME", "EXTENSION", "DECODERS", "ENCODERS")]
    fonts = matplotlib.font_manager._get_font.cache_info().currsize
    print("charting", pil, fonts, matplotlib.pyplot._backend_mod, matplotlib.pyplot.get_fignums())
charting()
import io, pandas.core.array_algos.take, pandas.core.dtypes.cast, pandas.core.groupby.ops
def framing():
    print("framing", [f.cache_info() for f in (pandas.core.array_algos.take._get_take_nd_function_cached,
        pandas.core.dtypes.cast._maybe_promote_cached, pandas.core.groupby.ops.WrappedCythonOp._get_cython_function)])
framing()
fig, ax = matplotlib.pyplot.subplots()
ax.plot([1, 2], label="l"); ax.set_title("t"); ax.legend(); fig.savefig("chart.png")
charting()
df = pandas.DataFrame({"k": [1, 2, 1], "v": [0.5, 1.5, 2.5]})
df.to_csv(io.StringIO())
print(df.groupby("k").v.mean().to_json(), df.to_string())
framing()
# Codecs looked up while matplotlib builds its font cache in a fresh /tmp
# (encodings.utf_16_be) are all a cold run imports that a warm one, whose
# font list is loaded, need not.
after = [m for m in sys.modules if not m.startswith("encodings.")]
print("after", len(after), sorted(m for m in after if m.startswith(("pandas.core.", "pandas.io.", "numpy.", "matplotlib.", "PIL."))))
print("mpl", matplotlib.get_backend(), matplotlib.get_cachedir())
import ctypes
print("dumpable", ctypes.CDLL(None).prctl(3, 0, 0, 0, 0), "owner of /proc/self", os.stat("/proc/self").st_uid == os.getuid())
print("/proc/self/environ", sorted(open("/proc/self/environ", "rb").read().split(b"\0")))
print("/proc/1/cmdline", open("/proc/1/cmdline", "rb").read().rstrip(b"\0"))
def f():
    raise ValueError("from main")
f()
EOF_PY
cold
cold_out=$OUT cold_err=$ERR cold_rc=$RC
warm
is "$RC" "$cold_rc" "a warm run ends as a cold one does (exit $cold_rc)"
is "$OUT" "$cold_out" "argv, __main__, sys.path, the standard streams, sys.modules before and after importing pandas, drawing a chart and working a DataFrame, PIL's format tables, pyplot's figures, backend and fonts, pandas' caches, environment (/proc/self/environ too), init's command line, flags, fds, pid, name, cwd and dumpable flag are a cold run's"
is "$ERR" "$cold_err" "and so is the traceback"
[ "$OUT" = "$cold_out" ] || diff <(echo "$cold_out") <(echo "$OUT") | head -20 | sed 's/^/# /'
# A cold pre-started run's command line is the one its sandbox exec'd:
# python3 -s -c RUNNER. A warm run's must be that too, and not the
# template's, which names the sandbox's options, its uid range among them.
probe=$(cat "$WORK/main.py") probe_out=$cold_out probe_err=$cold_err
stage <<<'import sys; sys.stdout.write(open("/proc/self/cmdline").read().replace("\0", "|"))'
warm
is "$OUT" "$PY|-s|-c|$STUB|" "/proc/self/cmdline is the pre-started command line, as a cold run's, not the template's"

# --- what each import brings in, kept from one start to the next (--cache) -------
# The template above found it out, in a child per module, and kept it in a
# file. The next one takes it from there if every file and directory it was
# found from is as it was; the rest of this file runs against templates
# started so.
retire() { kill -HUP "$template"; wait "$template"; }
kept=$(cat "$cache")
retire
start_template
is "$(said)" "what each import brings in: as kept in $cache" "the next template takes it from the file"
stage <<<"$probe"
warm
is "$OUT" "$probe_out" "and its warm runs see what a cold run sees (the probe above)"
is "$ERR" "$probe_err" "and so is the traceback"
[ "$OUT" = "$probe_out" ] || diff <(echo "$probe_out") <(echo "$OUT") | head -20 | sed 's/^/# /'
retire
# numpy's __init__.py a byte longer and newer, as far as the file says
sed -i 's|^\(/usr/[^ ]*/numpy/__init__.py\) \([0-9]*\) |\1 1\2 |' "$cache"
! cmp -s "$cache" <(echo "$kept"); ok $? "(the file now says numpy's __init__.py has changed)"
start_template
is "$(said)" "what each import brings in: found out, kept in $cache" "a file from which a module has changed is not used: found out again"
is "$(cat "$cache")" "$kept" "and replaced"
retire
echo 'coderunner-template imports 1' >"$cache"
start_template
is "$(said)" "what each import brings in: found out, kept in $cache" "nor is a file cut short"
retire
# Stopped as it puts its new file in place (SIGTERM, from a service that
# stops, as it renames the file over the old one, under gdb): it ends once
# the file has its name, and leaves none of its own half-written.
rm -f "$tmp_root/gdb.sock"
mkdir "$tmp_root/json"
listen_exec "$tmp_root/gdb.sock" /usr/bin/timeout 120 gdb -q -batch -ex 'handle SIGTERM nostop noprint pass' \
	-ex 'set breakpoint pending on' -ex 'break rename' -ex run \
	-ex 'python import gdb, os; os.kill(gdb.selected_inferior().pid, 15)' -ex continue \
	--args "$TEMPLATE" --preload json --prestart 1 --sandbox "$SB" --cache "$tmp_root/json/cache" "${range[@]}" \
	--accept-fd 3 -- "$PY" -s -c "$STUB" >"$tmp_root/gdb.out" 2>&1 &
wait $!
is "$(grep -c '^Breakpoint 1, rename' "$tmp_root/gdb.out")/$(grep -o 'terminated with signal SIGTERM' "$tmp_root/gdb.out")/$(ls "$tmp_root/json")" \
	"1/terminated with signal SIGTERM/cache" \
	"a template sent SIGTERM as it keeps the file ends with the file in place, and nothing else of it in the directory" ||
	sed 's/^/# /' "$tmp_root/gdb.out" | grep -v Detaching | tail -15
# A new file left by a template killed outright as it wrote it (SIGKILL,
# which it cannot hold off): the next removes it, but not one of a process
# that lives.
: >"$cache.4194305"
: >"$cache.$$"
start_template
is "$(said)" "what each import brings in: as kept in $cache" "(a template from the file again, for what follows)"
is "$(ls "$cache".* 2>/dev/null)/$(grep -c "removed imports.4194305, left by a template killed" "$tmp_root/template.err")" "$cache.$$/1" \
	"the next template removes the new file of one that is gone, and says so, not that of one that lives"
rm -f "$cache.$$"

# --- its end is python3's: the script's objects are finalized --------------------
end_script() {
	stage <<'EOF_PY'
import atexit, sys
log = open("output/log.txt", "w")
log.write("written, never closed\n")
class Noisy:
    def __del__(self):
        print("finalized", self.name, file=sys.stderr)
keep = Noisy()
keep.name = "global"
cycle = Noisy()
cycle.name = "in a cycle"
cycle.me = cycle
atexit.register(print, "atexit ran")
print("end of script")
EOF_PY
}
end_script
cold
cold_out=$OUT cold_err=$ERR cold_rc=$RC cold_log=$(cat "$WORK/output/log.txt")
end_script
warm
is "$RC/$OUT" "$cold_rc/$cold_out" "a warm run's atexit functions run as a cold one's ($cold_out)"
is "$(sort <<<"$ERR")" "$(sort <<<"$cold_err")" "its objects are finalized at the end, as a cold run's are"
is "$(cat "$WORK/output/log.txt")" "$cold_log" "a file it wrote and never closed is flushed, as a cold run's is"

# --- a module taken out of sys.modules is imported anew, as in a cold run ---------
# (a hidden module comes back once per run: once the run has had it, back
# itself or with pandas, an import finds it on disk again, and so do the
# modules that import brings in)
again_script() {
	stage <<'EOF_PY'
import sys
import decimal
first = decimal
del sys.modules["decimal"]
import decimal
import pandas
decoder = sys.modules["json.decoder"]
for name in [n for n in sys.modules if n == "json" or n.startswith("json.")]:
    del sys.modules[name]
import json
print(first is decimal, sys.modules["json.decoder"] is decoder, json.loads("[1]"))
EOF_PY
}
again_script
cold
cold_out=$OUT cold_rc=$RC
again_script
warm
is "$RC/$OUT" "$cold_rc/$cold_out" "a module the script took out of sys.modules is imported anew, with what it imports, as in a cold run ($cold_out)"

# A package's submodules are its attributes once imported, and only then:
# after `import matplotlib` a cold run has no matplotlib.backends.backend_agg
# (the template's chart imported it), after pyplot's first chart it has.
bound_script() {
	stage <<'EOF_PY'
import sys, types
def bound():
    for name, m in sorted(sys.modules.items()):
        if hasattr(m, "__path__") and not name.startswith("encodings"):
            print(name, sorted(k for k, v in vars(m).items()
                               if isinstance(v, types.ModuleType) and v.__name__ == name + "." + k))
import matplotlib, pandas
bound()
from matplotlib import backends
print("backends", backends.__name__, hasattr(backends, "backend_agg"))
import matplotlib.pyplot as plt
plt.subplots()[0].savefig("chart.png")
bound()
import io
print("csvs", hasattr(pandas.io.formats, "csvs"))
pandas.DataFrame({"a": [1]}).to_csv(io.StringIO())
bound()
EOF_PY
}
bound_script
cold
cold_out=$OUT cold_rc=$RC
bound_script
warm
is "$RC/$(md5sum <<<"$OUT")" "$cold_rc/$(md5sum <<<"$cold_out")" "each package's submodules are bound to it as in a cold run, before and after pyplot's first chart and pandas' first CSV ($(wc -l <<<"$cold_out") packages)"
[ "$OUT" = "$cold_out" ] || diff <(echo "$cold_out") <(echo "$OUT") | head -10 | sed 's/^/# /'

# PIL's plugins register their formats in PIL.Image's tables when imported:
# the tables name the plugins the script imported, in its order.
formats_script() {
	stage <<'EOF_PY'
import PIL.Image as Image
before = list(Image.ID)
import PIL.TiffImagePlugin, PIL.BmpImagePlugin
imported = list(Image.ID)
Image.preinit()
print(before, imported, Image.ID, list(Image.SAVE), list(Image.MIME), list(Image.EXTENSION), list(Image.DECODERS))
EOF_PY
}
formats_script
cold
cold_out=$OUT cold_rc=$RC
formats_script
warm
is "$RC/$OUT" "$cold_rc/$cold_out" "PIL's format tables hold the plugins the script imported, in its order, as a cold run's"

# What an import registers in modules every run has (warning filters,
# copyreg reducers, atexit functions) is there once the script imports it,
# after what the script registered itself.
registered_script() {
	stage <<'EOF_PY'
import atexit, copyreg, sys, warnings
def filters():
    return [(f[0], f[1] and f[1].pattern, f[2].__name__) for f in warnings.filters]
print("bare", filters(), list(copyreg.dispatch_table))
warnings.simplefilter("error")
atexit.register(print, "registered first, runs last")
import numpy, logging
print("imported", filters(), list(copyreg.dispatch_table))
def hooks():
    return [type(f).__name__ for f in sys.meta_path if f.__class__.__name__ != "type"]
before = hooks()
import matplotlib.pyplot
print("hooks", before, hooks())
class Handler(logging.Handler):
    def emit(self, record):
        pass
    def close(self):
        print("logging.shutdown closes the handler")
        super().close()
logging.getLogger().addHandler(Handler())
EOF_PY
}
registered_script
cold
cold_out=$OUT cold_rc=$RC
registered_script
warm
is "$RC/$OUT" "$cold_rc/$cold_out" "numpy's warning filters and copyreg reducers come with numpy, six's import hook with matplotlib, and logging's atexit function runs before the script's earlier one, as in a cold run"

# --- the pages an import writes, copied ahead (pages.c) --------------------------
learnt=$(sed -n 's/^coderunner-template: pages copied ahead: //p' "$tmp_root/template.err")
like "$learnt" '^every run [1-9][0-9]*, numpy [1-9][0-9]*, pandas [1-9][0-9]*, matplotlib\.pyplot [1-9][0-9]*$' \
	"the template learns which of its pages every run writes, and a run as it imports each module of the list ($learnt)"
# The pages of the run's private mappings that it alone maps (pagemap's
# bits 63 present, 56 exclusive, 61 file or shared), before and after an
# import.
own_py=$(cat <<'EOF_PY'
def own():
    n = 0
    with open("/proc/self/pagemap", "rb", buffering=0) as pm, open("/proc/self/maps") as maps:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if f[1] != "rw-p":
                continue
            pm.seek(lo // 4096 * 8)
            data = pm.read((hi - lo) // 4096 * 8)
            n += sum(1 for i in range(7, len(data), 8) if data[i] & 0xa1 == 0x81)
    return n
own()
before = own()
EOF_PY
)
# ahead [--off] IMPORTS...: in a warm run, the pages warm.py's COPY_AHEAD
# made the run's own as the imports brought their modules back, and all
# that the imports made its own. Without the copying ahead the first is
# about 0; --off turns it off, for what the imports alone make their own.
ahead() {
	local off=False
	[ "$1" = --off ] && { off=True; shift; }
	stage <<EOF_PY
$own_py
import sys
hook = sys.meta_path[0].find_spec.__globals__
copy, ahead = hook["COPY_AHEAD"], 0
def counted(name):
    global ahead
    b = own()
    if not $off:
        copy(name)
    ahead += own() - b
hook["COPY_AHEAD"] = counted
$(for m in "$@"; do echo "import $m"; done)
print(ahead, own() - before)
EOF_PY
	warm
}
# A warm run's import of pandas writes some 400 of the template's pages
# (the 700 learnt, less the file pages mapped ahead that own() leaves out,
# and those the run's every-run set had copied already): copied ahead, and
# no more than it writes (not, say, what the warm-up's work with pandas
# writes, which a script may never do).
ahead --off pandas
read -r _ alone <<<"$OUT"
ahead pandas
read -r copied made <<<"$OUT"
[ "$RC" = 0 ] && [ "${copied:-0}" -ge 100 ] && [ "$copied" -ge $((made * 3 / 4)) ]
ok $? "a warm run's import of pandas makes 3/4 of the pages it writes its own in one go ($OUT)"
[ "${alone:-0}" -ge 100 ] && [ "${copied:-0}" -le $((alone * 5 / 4)) ]
ok $? "and copies no more than 5/4 of what the import makes its own without the copying ahead ($copied; $alone)"
# pyplot's are copied as matplotlib, the first module of its import, comes
# back: an import of matplotlib alone makes them its own.
ahead matplotlib.pyplot
read -r _ pyplot_made <<<"$OUT"
ahead matplotlib
read -r copied made <<<"$OUT"
[ "$RC" = 0 ] && [ "${copied:-0}" -ge 100 ] && [ "$copied" -ge $((pyplot_made * 3 / 4)) ]
ok $? "an import of matplotlib alone makes 3/4 of the pages an import of matplotlib.pyplot writes its own in one go ($OUT; $pyplot_made)"

# --- random streams of its own, and nothing left by the run before --------------
stage <<'EOF_PY'
import os, random, tempfile, uuid
import numpy
print(random.random(), numpy.random.rand(), uuid.uuid4(), os.urandom(8).hex(),
      os.path.basename(tempfile.mktemp()))
EOF_PY
warm; first=$OUT
warm; second=$OUT
same=0
for i in 1 2 3 4 5; do
	[ "$(echo "$first" | cut -d' ' -f$i)" = "$(echo "$second" | cut -d' ' -f$i)" ] && same=$((same + 1))
done
is "$same" 0 "random, numpy's global RandomState, uuid4, os.urandom and tempfile names differ between runs"
stage <<'EOF_PY'
import builtins, os, sys, numpy, pandas
builtins.LEFT = 1
numpy.LEFT = 1
pandas.DataFrame.LEFT = 1
os.environ["LEFT"] = "1"
sys.path.append("/left")
sys.modules["left"] = sys
print("set")
EOF_PY
warm
is "$OUT" set "a run changes builtins, numpy, pandas, os.environ, sys.path and sys.modules"
stage <<'EOF_PY'
import builtins, os, sys, numpy, pandas
print(hasattr(builtins, "LEFT"), hasattr(numpy, "LEFT"), hasattr(pandas.DataFrame, "LEFT"),
      "LEFT" in os.environ, "/left" in sys.path, "left" in sys.modules)
EOF_PY
warm
is "$OUT" "False False False False False False" "and none of it reaches the next run"

# --- signals, limits and hostile runs ---------------------------------------------
stage <<'EOF_PY'
import os, signal
os.kill(os.getpid(), signal.SIGTERM)
print("not reached")
EOF_PY
warm
is "$RC/$OUT" "143/" "a script that sends itself SIGTERM ends with 143"
stage <<'EOF_PY'
b = bytearray(512 << 20)
print("not killed")
EOF_PY
"$PY" "$CLIENT" "$sock" "$WORK" "$WORK" --memory 256 -- 256 0 "" main.py
like "$(cat "$WORK.err")" "MemoryError" "a warm run is held to its memory limit"
stage <<'EOF_PY'
import os, signal
try:
    os.kill(-1, signal.SIGKILL)
except ProcessLookupError:
    pass
while True:
    try:
        os.fork()
    except OSError:
        pass
EOF_PY
warm --timeout 3000
is "$RC" 124 "a fork bomb that first tries kill(-1) runs into its timeout"
kill -0 "$template" 2>/dev/null; ok $? "the template is unharmed"
stage <<'EOF_PY'
import pandas
print(pandas.DataFrame({"a": [1, 2]}).a.sum())
EOF_PY
warm
is "$RC/$OUT" "0/3" "and the next run works"
is "$(in_range)" 2 \
	"nothing of the finished runs is left: only the two waiting interpreters"

# The run must end when its supervisor does, however it does.
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
stage <<'EOF_PY'
import time
time.sleep(20)
EOF_PY
warm --timeout 20000 &
client=$!
run_init= run_cmd= run_sup=
for _ in $(seq 100); do
	while read -r s i c; do
		[ -e "/proc/$c/cwd/main.py" ] && run_sup=$s run_init=$i run_cmd=$c
	done < <(runs)
	[ -n "$run_init" ] && break
	sleep 0.1
done
test -n "$run_sup"; ok $? "a warm run under way: its supervisor $run_sup, init $run_init, command $run_cmd"
kill -9 "$run_sup"
for _ in $(seq 50); do gone "$run_init" && gone "$run_cmd" && break; sleep 0.1; done
gone "$run_init" && gone "$run_cmd"; ok $? "kill -9 of its supervisor ends the run at once: init and command are gone"
wait "$client"

# --- without its zygote ------------------------------------------------------------
# Killed: runs go on, the pool fills again, and a new zygote takes its place.
pool_full() { for _ in $(seq 100); do [ "$(runs | wc -l)" = 2 ] && return 0; sleep 0.1; done; return 1; }
stage <<'EOF_PY'
import pandas
print(pandas.Series([1, 2]).sum())
EOF_PY
kill -KILL "$zygote"
warm
is "$RC/$OUT" "0/3" "with its zygote killed, a warm run works"
pool_full; ok $? "and the pool fills again"
new=
for _ in $(seq 30); do new=$(pgrep -P "$template" -x sandbox-zygote); [ -n "$new" ] && break; sleep 0.1; done
test -n "$new" && [ "$new" != "$zygote" ]; ok $? "and a new zygote takes its place"
# Slow: the template waits 5 s for its answer at most, then kills it and
# executes the supervisor, as it would without one. A supervisor the zygote
# forked but did not name in time must not go on as a sandbox the template
# does not know of (one it would neither retire nor wait for): it waits for
# the zygote's word that its pid was sent, and ends without it. strace
# holds the answer back; without strace, the zygote is stopped instead, and
# forks nothing.
if command -v strace >/dev/null; then
	timeout 60 strace -qq -o /dev/null -p "${new:-0}" -e trace=sendto -e inject=sendto:delay_enter=8000000 &
	tracer=$!
	for _ in $(seq 100); do
		[ "$(awk '$1 == "TracerPid:" { print $2 }' "/proc/${new:-0}/status" 2>/dev/null)" -gt 0 ] 2>/dev/null && break
		sleep 0.1
	done
	how="slow to answer"
else
	kill -STOP "$new"
	how=stopped
fi
warm
is "$RC/$OUT" "0/3" "with its zygote $how, a warm run works"
for _ in $(seq 100); do gone "$new" && break; sleep 0.1; done
pool_full; ok $? "and the pool fills again"
gone "$new"; ok $? "and the zygote that did not answer is gone"
kill -CONT "$new" 2>/dev/null	# (if not, so that what follows does not hang)
if [ -n "${tracer:-}" ]; then
	sleep 0.5
	is "$(supervisors | wc -l)/$(runs | wc -l)" 2/2 \
		"and the supervisor it forked but did not name in time does not go on as a sandbox of its own"
	wait "$tracer"; ok $? "(strace held back the answer of zygote ${new:-?})"
else
	skip "no strace" "a supervisor forked but not named in time does not go on"
fi

# --- as the service runs it --------------------------------------------------------
# An unprivileged user holding only the documented capabilities as ambient
# ones, as coderunner.service grants them.
kill -HUP "$template"; wait "$template"
caps=+sys_admin,+net_admin,+setuid,+setgid,+setpcap,+chown,+kill,+dac_read_search,+sys_chroot
svc=61002
chown "$svc" "$tmp_root"; rm -f "$tmp_root/uids.lock"
rm -f "$sock"
: >"$tmp_root/template.out"
# The kept file is read as the service user, with no capability in effect:
# one it could read only by CAP_DAC_READ_SEARCH is not read.
chmod 0600 "$cache"
LISTEN_AS=(setpriv --reuid=$svc --regid=$svc --clear-groups --inh-caps=$caps --ambient-caps=$caps)
listen_exec "$sock" "$TEMPLATE" --preload numpy,pandas,matplotlib.pyplot --prestart 1 --sandbox "$SB" \
	--cache "$cache" "${range[@]}" --accept-fd 3 -- "$PY" -s -c "$STUB" >"$tmp_root/template.out" 2>"$tmp_root/template.err" &
LISTEN_AS=()
template=$!
for _ in $(seq 300); do grep -q warm "$tmp_root/template.out" && break; sleep 0.1; done
like "$(cat "$tmp_root/template.out")" "^warm" "a service user with only the documented ambient capabilities runs a template" ||
	sed 's/^/# /' "$tmp_root/template.err"
is "$(said)/$(grep -c -- "$cache: Permission denied" "$tmp_root/template.err")" "what each import brings in: found out, kept in $cache/1" \
	"it reads the kept file with no capability in effect: root's, mode 0600, is refused, and found out again"
is "$(stat -c %u/%a "$cache")" "$svc/644" "and the file it keeps in its place is the service user's"
stage <<'EOF_PY'
import os, pandas
print(pandas.Series([1, 2]).sum(), os.getuid() != 61002)
EOF_PY
chmod 0777 "$WORK" "$WORK/output"
warm
is "$RC/$OUT" "0/3 True" "and a warm run in it works"
zygote=$(pgrep -P "$template" -x sandbox-zygote)
# Its supervisors are its forks: what it holds, they hold. No more than the
# template may hold, as the service user.
is "$(awk '$1 == "Uid:" { print $2 }' "/proc/$zygote/status" 2>/dev/null)/$(cap_field "$zygote" CapEff)" \
	"$svc/$(cap_field "$template" CapPrm)" "its zygote runs as the service user, with no capability the template does not hold"
kill -HUP "$template"; wait "$template"
gone "$zygote"; ok $? "and ends with the template"
# Root's again, so that the templates below, whose capabilities are not in
# effect either, can read what the service user's kept rather than find it
# all out again.
chown 0 "$tmp_root"; rm -f "$tmp_root/uids.lock"

# --- the end of a template ---------------------------------------------------------
kill -HUP "$template"
wait "$template"; rc=$?
is "$rc" 0 "SIGHUP retires the template: its idle sandboxes go, then it"
none_left
is "$(in_range)" 0 "and nothing of them is left"
start_template
zygote=$(pgrep -P "$template" -x sandbox-zygote)
kill -KILL "$template"
wait "$template" 2>/dev/null
for _ in $(seq 50); do
	[ "$(in_range)" = 0 ] && gone "$zygote" && break
	sleep 0.1
done
is "$(in_range)" 0 \
	"a template killed with SIGKILL takes its waiting sandboxes with it"
test -n "$zygote" && gone "$zygote"; ok $? "and its zygote"

# SIGTERM the moment the template says it is warm: its sandboxes are still
# building their roots (a service stopped just after a reload). Each ends its
# init and then itself; none may wait for ever on what init said.
stopped=0
for i in 1 2 3; do
	rm -f "$sock" "$tmp_root/said"
	mkfifo "$tmp_root/said"
	listen_exec "$sock" "$TEMPLATE" --preload numpy,pandas,matplotlib.pyplot --prestart 2 --sandbox "$SB" \
		--cache "$cache" "${range[@]}" --accept-fd 3 -- "$PY" -s -c "$STUB" >"$tmp_root/said" 2>"$tmp_root/template.err" &
	template=$!
	read -r -t 60 _ <"$tmp_root/said"
	kill -TERM "$template"
	for _ in $(seq 100); do gone "$template" && break; sleep 0.1; done
	gone "$template" && stopped=$((stopped + 1))
	pkill -KILL -P "$template" 2>/dev/null
	kill -KILL "$template" 2>/dev/null
	wait "$template" 2>/dev/null
done
is "$stopped" 3 "a template sent SIGTERM as it says it is warm ends within 10 s, with its sandboxes (3 times)"
none_left
is "$(in_range)" 0 "and nothing of them is left"

# Killed while it imports, it takes the children it forks to see what each
# import brings in (a stopping service would find them in its cgroup).
rm -f "$sock"
listen_exec "$sock" "$TEMPLATE" --preload numpy,pandas,matplotlib.pyplot --prestart 2 --sandbox "$SB" "${range[@]}" \
	--accept-fd 3 -- "$PY" -s -c "$STUB" >/dev/null 2>&1 &
template=$!
kids=
for _ in $(seq 200); do kids=$(pgrep -P "$template" | tr '\n' ' '); [ -n "$kids" ] && break; sleep 0.02; done
kill -KILL "$template"
wait "$template" 2>/dev/null
# At once: left alone, the first of them ends by itself once its imports
# are done (they take it most of a second).
left=
for _ in $(seq 10); do
	left=$(for k in $kids; do [ -e "/proc/$k" ] && [ "$(awk '{ print $3 }' "/proc/$k/stat" 2>/dev/null)" != Z ] && echo "$k"; done)
	[ -z "$left" ] && break
	sleep 0.02
done
test -n "$kids" && test -z "$left"; ok $? "killed while it imports, it takes the children that import with it (${kids% })"

done_testing
