#!/bin/bash
# workdir.sh — what goes into a run and what comes back out of ./output.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/sandbox/lib.sh"

# The staged input is visible; only ./output comes back.
WORK=$(mktemp -d "$tmp_root/stage.XXXXXX")
mkdir -p "$WORK/input/sub" "$WORK/output" "$WORK/pkg"
printf 'a,b\n1,2\n' >"$WORK/input/data.csv"
printf '\x89PNG\x00\x01' >"$WORK/input/sub/bin.dat"
printf 'VALUE = 42\n' >"$WORK/pkg/__init__.py"
cat >"$WORK/main.py" <<'EOF_PY'
import os, pkg
print("csv", open("input/data.csv").read().replace("\n", "|"))
print("bin", open("input/sub/bin.dat", "rb").read())
print("pkg", pkg.VALUE)
print("owner", os.stat("input/data.csv").st_uid, os.stat(".").st_uid)
os.makedirs("output/nested/deeper")
open("output/result.txt", "w").write("hello")
open("output/nested/deeper/blob.bin", "wb").write(bytes(range(256)))
open("scratch.txt", "w").write("not output")
os.symlink("/etc/passwd", "output/passwd-link")
os.symlink("/tmp", "output/dir-link")
os.mkfifo("output/fifo")
os.chmod("output/result.txt", 0)
os.remove("input/data.csv")
EOF_PY
"$SB" --workdir "$WORK" --report-fd 3 -- "$PY" main.py >"$WORK.out" 2>"$WORK.err" 3>/dev/null
RC=$?; OUT=$(cat "$WORK.out")
is "$RC" 0 "a script reading input and writing output runs"
like "$OUT" "csv a,b\|1,2\|" "context files are readable in ./input"
like "$OUT" "bin b'\\\\x89PNG\\\\x00\\\\x01'" "binary input arrives unchanged"
like "$OUT" "pkg 42" "a package in the work dir imports"
like "$OUT" "owner 65534 65534" "the work dir and its files belong to the run's user"
is "$(cat "$WORK/output/result.txt" 2>&1)" hello "output files come back (even ones the script made unreadable)"
cmp -s "$WORK/output/nested/deeper/blob.bin" <(printf "$(printf '\\%03o' $(seq 0 255))")
ok $? "nested binary output comes back byte for byte"
[ ! -e "$WORK/output/passwd-link" ] && [ ! -L "$WORK/output/passwd-link" ]
ok $? "a symbolic link in ./output is not copied back"
[ ! -e "$WORK/output/dir-link" ] && [ ! -e "$WORK/output/fifo" ]
ok $? "a link to a directory and a FIFO are not copied back"
[ ! -e "$WORK/scratch.txt" ] && [ -e "$WORK/input/data.csv" ]
ok $? "nothing outside ./output changes in the caller's directory"
is "$(stat -c %u "$WORK/output/result.txt")" 0 "copied-back files belong to the caller"

# A script that replaces ./output with a link to a host directory gets nothing
# copied anywhere.
sb <<'EOF_PY'
import os, shutil
shutil.rmtree("output")
os.symlink("/etc", "output")
EOF_PY
is "$RC" 0 "replacing ./output with a symlink is harmless"
[ -d "$WORK/output" ] && [ -z "$(ls -A "$WORK/output")" ]
ok $? "and nothing comes back"

# Depth is bounded: a very deep tree is cut, not followed forever.
sb <<'EOF_PY'
import os
p = "output"
for i in range(100):
    p += "/d"
os.makedirs(p)
open(p + "/deep.txt", "w").write("x")
print("made")
EOF_PY
like "$OUT" made "a 100-level tree can be made"
[ -z "$(find "$WORK/output" -name deep.txt)" ]
ok $? "but output deeper than the bound is not copied"
is "$(report output_omitted | "$PY" -c 'import json, sys; n = json.load(sys.stdin); print(len(n), n[0].count("/"))')" "1 32" \
	"and the report names the directory it stopped at, 33 levels down"

# What comes back is bounded by /work's size, counted by length: sparse files
# and hard links take no room in /work, but their copies would.
sb --work-size 8 <<'EOF_PY'
import os
for i in range(10):
    with open(f"output/sparse{i}", "wb") as f:
        f.truncate(8 << 20)
open("output/one", "wb").write(os.urandom(1 << 20))
for i in range(10):
    os.link("output/one", f"output/link{i}")
print("made")
EOF_PY
like "$OUT" made "80 MB of sparse files and 10 links to a 1 MB file fit in an 8 MB /work"
back=$(find "$WORK/output" -type f -printf '%s\n' | awk '{ n += $1 } END { print n + 0 }')
[ "$back" -le $((8 << 20)) ]; ok $? "but no more than 8 MB of it comes back ($back bytes)"
left=$(cd "$WORK/output" && { ls -1; echo sparse{0..9} one link{0..9} | tr ' ' '\n'; } | sort | uniq -u | tr '\n' ' ')
[ -n "$left" ] && is "$(report output_omitted | "$PY" -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin))) + " ")')" "$left" \
	"and the report names every file that was left behind ($left)"

# No mount, process or directory outlives a run.
mounts_before=$(wc -l </proc/self/mounts)
sb <<'EOF_PY'
print("x")
EOF_PY
is "$(wc -l </proc/self/mounts)" "$mounts_before" "no mount is left on the host"

done_testing
