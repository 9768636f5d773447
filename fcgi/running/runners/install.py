# The installer of a request's packages, run in a sandbox of its own as
# `python3 -s -c <this>` (packages.c): its own uid, no capabilities,
# seccomp, a private /tmp, nothing writable but /work, and the network only
# when the packages come from an index. It reads on stdin
#   {"requirements": ["name==1.0", ...], "index_url": URL or null,
#    "find_links": "/links" or null, "max_mb": N}
# puts the packages into ./output/site and answers on fd 4 with one of
#   {"ok": true, "packages": {name: version}, "top_level": [...],
#    "at_start": [...], "providers": {module: [name, ...]}, "size": bytes}
#   {"error": "not_found" | "unreachable" | "refused" | "too_big" | "unsafe" | "failed",
#    "name": NAME or null, "detail": TEXT}
# Only binary wheels from the index are taken, so no package's build code
# runs; a wheel is only unpacked, never executed, and its .pth files are
# never read: runs put the set on sys.path, not in a site dir. pip's
# --only-binary :all: alone does not hold for a dependency named by URL
# ("name @ https://.../x.tar.gz" in a wheel's metadata): pip fetches it from
# wherever it points (a VCS link is cloned) and prepares a source
# distribution, which runs its build backend, here, with the network. Nor
# does it keep to the index's own files: a project page may list a file:
# or git+ link. So pip runs under GUARD: resolving, it refuses any
# dependency named by URL before it is fetched, takes from the index's
# pages only links to where the source keeps its wheels (http(s), or
# /links), and never prepares a source distribution.
import base64, importlib.machinery, json, os, re, subprocess, sys, urllib.error, urllib.parse, urllib.request, zipfile

request = json.load(sys.stdin)
requirements = request["requirements"]
index_url, find_links = request["index_url"], request["find_links"]
max_bytes = request["max_mb"] << 20
os.environ["HOME"] = "/tmp"
# pip unpacks each wheel in a temporary directory first: in /work, whose
# size is made for the packages, not in the run's small /tmp.
os.environ["TMPDIR"] = "/work/tmp"
os.mkdir("/work/tmp")


def answer(**fields):
    os.write(4, json.dumps(fields).encode())
    raise SystemExit(0)


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


names = [normalise(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requirements]

# Whether the index (or the directory) has each package at all: pip says
# "no matching distribution" both for a name it lacks and for an index it
# cannot reach, which an agent must tell apart.
# An index behind a login names it in its URL (https://user:token@host/...),
# which pip takes from there; urllib would look "user:token@host" up as a
# host. So the index is asked without it, the login in a header that no
# redirect carries on, and no message names it.
if index_url:
    split = urllib.parse.urlsplit(index_url)
    login, at, host = split.netloc.rpartition("@")
    public = urllib.parse.urlunsplit(split._replace(netloc=host)).rstrip("/")
    user, _, password = login.partition(":")
    basic = base64.b64encode(f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()).decode()
    for name in names:
        url = public + "/" + name + "/"
        asked = urllib.request.Request(url)
        if at:
            asked.add_unredirected_header("Authorization", "Basic " + basic)
        try:
            with urllib.request.urlopen(asked, timeout=15) as r:
                r.read(1 << 20)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                answer(error="not_found", name=name, detail=f"the package index has no package {name}")
            if e.code in (401, 403):
                answer(error="refused", name=None, detail=f"the package index answered {e.code} for {url}: "
                       "the login in package_index_url is missing or wrong")
            answer(error="unreachable", name=None, detail=f"the package index answered {e.code} for {url}")
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            answer(error="unreachable", name=None, detail=f"the package index cannot be reached: {reason}")
else:
    have = {normalise(f.split("-")[0]) for f in os.listdir(find_links) if f.endswith(".whl")}
    for name in names:
        if name not in have:
            answer(error="not_found", name=name, detail=f"the wheel directory has no package {name}")

REFUSED = "coderunner refused: "
GUARD = f"""
import os, sys
from pip._internal.distributions.sdist import SourceDistribution
from pip._internal.exceptions import InstallationError
from pip._internal.resolution.resolvelib.factory import Factory
def refuse(self, *args, **kwargs):
    raise InstallationError({REFUSED!r} + str(self.req.link or self.req))
SourceDistribution.prepare_distribution_metadata = refuse
if sys.argv[1].startswith("--only-from="):
    source = sys.argv.pop(1).partition("=")[2]
    def refuse_link(self, link):    # called for each requirement named by URL
        raise InstallationError({REFUSED!r} + str(link))
    Factory._fail_if_link_is_unsupported_wheel = refuse_link
    from pip._internal.index.package_finder import LinkEvaluator, LinkType
    evaluate_link = LinkEvaluator.evaluate_link
    def from_source(self, link):
        if link.scheme in ("http", "https") if source == "index" else \
           link.scheme == "file" and os.path.normpath(link.file_path).startswith(source):
            return evaluate_link(self, link)
        return (LinkType.format_unsupported, "not where the source keeps its wheels")
    LinkEvaluator.evaluate_link = from_source
from pip._internal.cli.main import main
sys.exit(main())
"""
pip = [sys.executable, "-P", "-c", GUARD]    # -P: nothing in /work on sys.path
options = ["--isolated", "--no-input", "--disable-pip-version-check", "--no-cache-dir"]
source = ["--index-url", index_url] if index_url else ["--no-index", "--find-links", find_links]


def pip_output(args, guard, quiet=True):
    p = subprocess.run(pip + list(guard) + options + (["--quiet"] if quiet else []) + args,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    return p.returncode, p.stdout


# What conflicts, when no set of versions meets the requirements: pip says
# it only above --quiet's level ("The conflict is caused by:" and a line for
# each requirement), so the resolution is asked for again to say it. Its
# other lines are not parsed: a package's name could read as anything.
def conflict(args, guard):
    out = pip_output(args, guard, quiet=False)[1]
    which = re.search(r"ERROR: Cannot install (.+?) because", out)
    causes = re.search(r"The conflict is caused by:\n((?:[ \t]+\S.*\n)+)", out)
    if not which or not causes:
        return None
    return f"{which.group(1)} conflict: " + "; ".join(l.strip() for l in causes.group(1).splitlines())


def run_pip(args, guard=()):
    rc, out = pip_output(args, guard)
    if rc == 0:
        return
    m = re.search(re.escape(REFUSED) + r"(\S+)", out)
    if m:
        answer(error="unsafe", name=None,
               detail=f"a package depends on {m.group(1)}, named by URL: only the index's wheels are installed")
    if "No space left on device" in out or "File too large" in out:
        answer(error="too_big", name=None,
               detail=f"the packages do not fit in {request['max_mb']} MB")
    m = re.search(r"No matching distribution found for (\S+)", out)
    if m:
        wanted = m.group(1)
        answer(error="not_found", name=normalise(re.match(r"[A-Za-z0-9._-]+", wanted).group(0)),
               detail=f"no binary wheel of {wanted} for this interpreter")
    if re.search(r"(?i)connection|timed out|temporary failure in name resolution", out):
        answer(error="unreachable", name=None, detail="the package index cannot be reached")
    lines = [l for l in out.splitlines() if l.strip()]
    why = conflict(args, guard) if "ResolutionImpossible" in out else None
    answer(error="failed", name=None, detail=why[:1000] if why else (lines[-1] if lines else "pip failed")[:300])


# Resolve and fetch (dependencies included), then unpack what was fetched
# and nothing else.
os.mkdir("/work/wheels")
run_pip(["download", "--only-binary", ":all:", "--retries", "0", "--timeout", "15",
         "--dest", "/work/wheels"] + source + requirements,
        guard=["--only-from=" + ("index" if index_url else find_links + "/")])
wheels = sorted(f for f in os.listdir("/work/wheels") if f.endswith(".whl"))
site = "/work/output/site"
os.makedirs(site)
run_pip(["install", "--no-index", "--no-deps", "--only-binary", ":all:", "--target", site]
        + [os.path.join("/work/wheels", f) for f in wheels])

# The tree as it will be published: regular files and directories only.
size = 0
for root, dirs, files in os.walk(site):
    if root.count("/") - site.count("/") >= 30:
        answer(error="unsafe", name=None, detail=f"{os.path.relpath(root, site)} is nested too deep")
    for n in dirs + files:
        path = os.path.join(root, n)
        st = os.lstat(path)
        if os.path.islink(path) or not (os.path.isdir(path) or os.path.isfile(path)):
            answer(error="unsafe", name=None, detail=f"{os.path.relpath(path, site)} is not a file or directory")
        size += st.st_size
if size > max_bytes:
    answer(error="too_big", name=None, detail=f"the packages take {size >> 20} MB, more than {request['max_mb']} MB")

# Each package's name and version, from its wheel's file name, which pip
# checked against the wheel's metadata: a wheel's own METADATA, or a
# .dist-info it ships among its files, could say otherwise.
packages = {normalise(f.split("-")[0]): f.split("-")[1] for f in wheels}
top_level = set()
for n in os.listdir(site):
    if n in ("bin", "__pycache__") or n.endswith((".data", ".dist-info")):
        continue
    elif os.path.isdir(os.path.join(site, n)):
        top_level.add(n)
    elif n.endswith(tuple(importlib.machinery.all_suffixes())):    # .py, .pyc, .so ...
        top_level.add(n.split(".")[0])
# Which wheels brought each top-level module, from the wheels' own lists of
# files (pip --target puts a .data directory's purelib, platlib and data at
# the top too): a set's module can stand in
# for a pre-installed distribution's, as a numpy/ that another wheel ships
# would, and the run imports the set's.
providers = {}
for f in wheels:
    with zipfile.ZipFile(os.path.join("/work/wheels", f)) as z:
        for entry in z.namelist():
            parts = entry.split("/")
            if len(parts) > 2 and parts[0].endswith(".data") and parts[1] in ("purelib", "platlib", "data"):
                parts = parts[2:]
            module = parts[0] if len(parts) > 1 else parts[0].partition(".")[0]
            if module in top_level:
                providers.setdefault(module, set()).add(normalise(f.split("-")[0]))
# A module named as one of Python's own, or as site's hooks, would stand in
# for it: where the interpreter starts with the set on PYTHONPATH (a run
# with a sandbox of its own), from its start, before the script (site runs
# a sitecustomize.py; a .pth of the system's imports what it names); where
# the set goes on sys.path later (a pre-started or warm run), only from
# then on. A package has no business doing either: such a set is refused.
shadows = sorted(top_level & (set(sys.stdlib_module_names) | {"sitecustomize", "usercustomize"}))
if shadows:
    answer(error="unsafe", name=None,
           detail=f"the packages provide {shadows[0]}, the name of a module of Python's own")

# The names an interpreter imports, or looks for, as it starts, before any
# script: what site's .pth files import (_distutils_hack, mpl_toolkits),
# and what sitecustomize tries (Debian's, apport_python_hook). A cold run,
# its set on PYTHONPATH from its start, takes the set's copy of each; a
# warm or pre-started one, whose set goes on sys.path later, would hold the
# system's. Runs of a set that provides one of them start a sandbox of their
# own (run.c), as do runs of a set installed before this list was kept.
# -vv names each file looked for ("# trying DIR/NAME.EXT"): of those in a
# directory on sys.path, NAME is a top-level module.
probe = subprocess.run([sys.executable, "-s", "-vv", "-c",
                        "import sys; print(*sys.modules); print(*sys.path, sep='\\0')"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
started = probe.stdout.split("\n")
if probe.returncode or len(started) < 2:
    answer(error="failed", name=None, detail="the interpreter cannot be asked what it imports as it starts")
at_start = {m.partition(".")[0] for m in started[0].split()}
paths = set(started[1].split("\0"))
for line in probe.stderr.splitlines():
    if line.startswith("# trying "):
        directory, file = os.path.split(line[len("# trying "):])
        if directory in paths:
            at_start.add(file.partition(".")[0])
answer(ok=True, packages=packages, top_level=sorted(top_level), at_start=sorted(top_level & at_start),
       providers={m: sorted(d) for m, d in sorted(providers.items())}, size=size)
