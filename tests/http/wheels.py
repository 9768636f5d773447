# wheels.py DIR HOST_MARKERS — the packages tests/http/packages.sh installs:
# pure-Python wheels written with zipfile, and hostile ones. Writes
#   DIR/links/*.whl            a flat directory of wheels (package_find_links)
#   DIR/index/simple/NAME/*    the same as a PEP 503 simple index, for
#                              `python3 -m http.server` (package_index_url)
# A hostile wheel that got to do what it wants leaves a file in HOST_MARKERS
# (or in the run's /tmp); none of them may.
import base64, hashlib, importlib.util, marshal, os, shutil, stat, sys, zipfile

out, markers = sys.argv[1], sys.argv[2]
links = os.path.join(out, "links")
os.makedirs(links, exist_ok=True)


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel(name, version, files, requires=(), record=None, links_=(), raw=(),
          compression=zipfile.ZIP_STORED, folded=""):
    """files: {path: bytes}; links_: [(path, target)] as symlink entries;
    raw: [(ZipInfo, bytes)] written as they are; folded: continuation lines
    of METADATA's first header."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\n{folded}Name: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = dict(files)
    files[f"{info}/METADATA"] = meta.encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: wheels.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if record is None:
        record = "\n".join(record_line(p, d) for p, d in files.items()) + f"\n{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    path = os.path.join(links, f"{dist}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w", compression) as z:
        for p, d in files.items():
            z.writestr(p, d)
        for p, target in links_:
            zi = zipfile.ZipInfo(p)
            zi.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(zi, target)
        for zi, d in raw:
            z.writestr(zi, d)


def module(version):
    return f"VERSION = {version!r}\ndef hello():\n    return 'hello ' + VERSION\n".encode()


wheel("greet", "1.0", {"greet.py": module("1.0")})
wheel("greet", "2.0", {"greet.py": module("2.0")})
wheel("needs-greet", "1.0", {"needs_greet/__init__.py": b"import greet\nGREETING = greet.hello()\n"},
      requires=["greet>=2.0"])
wheel("other", "1.0", {"other.py": b"NAME = 'other'\n"})
wheel("numpy", "0.1", {"numpy/__init__.py": b"__version__ = '0.1'\n"})
# A package whose dependency the pre-installed numpy does not satisfy: the
# set brings a numpy of its own, which a run imports ahead of it.
wheel("needs-oldnumpy", "1.0", {"needs_oldnumpy.py": b""}, requires=["numpy<1"])
# A numpy/ shipped by a wheel of another name.
wheel("impostor", "1.0", {"numpy/__init__.py": b"__version__ = 'impostor'\n"})
# A PIL/, which pillow's modules are imported as; and a NumPy/, which
# `import numpy` never finds.
wheel("fakepil", "1.0", {"PIL/__init__.py": b"__version__ = 'fakepil'\n"})
wheel("upper", "1.0", {"NumPy/__init__.py": b"__version__ = 'upper'\n"})
# The same numpy/, as a data file: pip --target puts .data/data at the top.
wheel("data-impostor", "1.0", {"data_impostor-1.0.data/data/numpy/__init__.py": b"__version__ = 'data-impostor'\n"})
# A numpy of its own among more top-level modules than a run's record of
# them holds (4 KiB): such a set can never run warm.
wheel("crowd", "1.0", {"numpy/__init__.py": b"__version__ = 'crowd'\n",
                       **{f"crowd_module_{i:03d}.py": b"" for i in range(300)}})
# A module of the template's (matplotlib's cycler) as a sourceless .pyc: a
# set brings it as much as a cycler.py would.
wheel("shadow", "1.0", {"cycler.pyc": importlib.util.MAGIC_NUMBER + bytes(12) +
                        marshal.dumps(compile("NAME = 'shadow'\n", "cycler.py", "exec"))})
# Modules named as Python's own: site's hook, run as an interpreter starts
# with the set on PYTHONPATH, and a standard library module.
wheel("sitehook", "1.0", {"sitecustomize.py": b"import builtins; builtins.HOOKED = 1\n"})
wheel("stdlib-twin", "1.0", {"stdlib_twin.py": b"", "reprlib.py": b"raise SystemExit('twin')\n"})
# Modules an interpreter imports, or looks for, as it starts: setuptools'
# .pth imports _distutils_hack and calls its add_shim(); Debian's
# sitecustomize imports apport_python_hook if it can, and calls its install().
wheel("starter", "1.0", {"starter.py": b"",
                         "_distutils_hack/__init__.py": b"def add_shim():\n    import builtins; builtins.SHIM = 1\n",
                         "apport_python_hook.py": b"def install():\n    import builtins; builtins.APPORT = 1\n"})
# Big and incompressible: for package_max_mb and the cache's size.
for n in ("big-a", "big-b", "big-c"):
    wheel(n, "1.0", {f"{n.replace('-', '_')}/__init__.py": b"", f"{n.replace('-', '_')}/blob.bin": os.urandom(700 << 10)})
wheel("huge", "1.0", {"huge/__init__.py": b"", "huge/blob.bin": os.urandom(3 << 20)})
# Many files of a byte each: little in bytes, but a block (and an inode)
# each on disk, some 8 MB.
wheel("smallfiles", "1.0", {"smallfiles/__init__.py": b"",
                            **{f"smallfiles/d{i // 500}/f{i}": b"x" for i in range(2000)}})
# More files than a run's /work has inodes for (16384), of a byte each:
# some 72 MB on disk, which the installer's /work, made for package_max_mb,
# holds.
wheel("manyfiles", "1.0", {"manyfiles/__init__.py": b"",
                           **{f"manyfiles/d{i // 1000}/f{i}": b"x" for i in range(18000)}})
# More top-level modules, and longer names, than the installer's answer may
# name in max_output_kib (1 MiB): 2400 of 240 bytes, twice each.
wheel("crowded", "1.0", {f"m{i:04d}_{'x' * 230}.py": b"" for i in range(2400)})
# Files larger than a run may write, more of them than a run's /tmp holds:
# a set of the size of scipy's.
wheel("roomy", "1.0", {"roomy/__init__.py": b"", **{f"roomy/part{i}.bin": bytes(17 << 20) for i in range(5)}},
      compression=zipfile.ZIP_DEFLATED)

# METADATA whose first header goes on over lines that a naive reader takes
# for another name and version.
wheel("spoof", "2.0", {"spoof.py": b"V = '2.0'\n"}, folded=" Name: numpy\n Version: 1.0\n")

# Hostile. A marker written anywhere means the wheel got its way.
wheel("evil-dotdot", "1.0", {"evil_dotdot.py": b"", "../../../../../../../../tmp/evil-dotdot-marker": b"x"})
wheel("evil-abs", "1.0", {"evil_abs.py": b"", os.path.join(markers, "evil-abs-marker").lstrip("/"): b"x"},
      raw=[(zipfile.ZipInfo(os.path.join(markers, "evil-abs-marker2")), b"x")])
wheel("evil-link", "1.0", {"evil_link/__init__.py": b""},
      links_=[("evil_link/passwd", "/etc/passwd"), ("evil_link/up", "../../../../..")])
pth = (f"import os; open({os.path.join(markers, 'pth-marker')!r}, 'w'); "
       "open('/tmp/pth-marker', 'w')\n").encode()
wheel("evil-pth", "1.0", {"evil_pth.py": b"OK = True\n", "evil_pth.pth": pth, "evil_pth-nspkg.pth": pth})
wheel("evil-record", "1.0", {"evil_record.py": b"OK = True\n"},
      record="evil_record.py,sha256=AAAA,1\n../../outside.py,sha256=BBBB,2\n/etc/cron.d/x,,\n")
# Only a source distribution, whose setup.py would leave a marker: with
# binary wheels only, it is never built.
sdist = os.path.join(out, "sdistonly-1.0")
os.makedirs(sdist, exist_ok=True)
with open(os.path.join(sdist, "setup.py"), "w") as f:
    f.write(f"open({os.path.join(markers, 'setup-marker')!r}, 'w')\n"
            "from setuptools import setup\nsetup(name='sdistonly', version='1.0')\n")
with open(os.path.join(sdist, "PKG-INFO"), "w") as f:
    f.write("Metadata-Version: 2.1\nName: sdistonly\nVersion: 1.0\n")
shutil.make_archive(os.path.join(links, "sdistonly-1.0"), "gztar", out, "sdistonly-1.0")

# A wheel whose metadata names a dependency by URL, a source distribution
# with a build backend of its own: pip would run the backend to read its
# metadata, --only-binary :all: notwithstanding. Were it run, the install
# would succeed.
wheel("urldep", "1.0", {"urldep.py": b"OK = True\n"},
      requires=["evilsrc @ file:///links/evilsrc-1.0.tar.gz"])
# And one that names a wheel by URL: not fetched from anywhere but the
# index, were it a wheel the index has.
wheel("urlwheel", "1.0", {"urlwheel.py": b"OK = True\n"},
      requires=["greet @ file:///links/greet-1.0-py3-none-any.whl"])
evilsrc = os.path.join(out, "evilsrc-1.0")
os.makedirs(evilsrc, exist_ok=True)
with open(os.path.join(evilsrc, "pyproject.toml"), "w") as f:
    f.write('[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
with open(os.path.join(evilsrc, "PKG-INFO"), "w") as f:
    f.write("Metadata-Version: 2.1\nName: evilsrc\nVersion: 1.0\n")
with open(os.path.join(evilsrc, "backend.py"), "w") as f:
    f.write("""import os
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(d, config_settings=None):
    os.makedirs(os.path.join(d, "evilsrc-1.0.dist-info"))
    with open(os.path.join(d, "evilsrc-1.0.dist-info", "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: evilsrc\\nVersion: 1.0\\n")
    return "evilsrc-1.0.dist-info"
""")
shutil.make_archive(os.path.join(links, "evilsrc-1.0"), "gztar", out, "evilsrc-1.0")

# The same files as a simple index: one directory per normalised name,
# whose listing http.server serves as the project page.
for f in os.listdir(links):
    project = f.split("-")[0].replace("_", "-").lower()
    d = os.path.join(out, "index", "simple", project)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(links, f), d)
