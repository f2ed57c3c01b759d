"""Build ``hookshim.pyz``, the single-file zipapp of this package (stdlib ``zipapp`` format).

Reproducible: entries sorted, every timestamp 1980-01-01, fixed permissions, no caches, so
the same sources give the same bytes wherever they are built. ``scripts/build_dist.py``
writes it for the packages; the server builds the same bytes from the package it runs
(``GET /api/v1/shim/hookshim.pyz``), so a host can check one against the other. Not on the
hook path.
"""

import io
import os
import re
import zipfile

ZIP_TIME = (1980, 1, 1, 0, 0, 0)   # the earliest time a zip entry can hold
SHEBANG = b"#!/usr/bin/env python3\n"
MAIN = b'''"""``python3 hookshim.pyz ...``: the zipapp's entry (hookshim.release.main)."""
import sys

from hookshim.release import main

sys.exit(main(sys.argv[1:], sys.argv[0]))
'''
VERSION_RE = re.compile(rb'__version__ = "[^"]+"')


def package_dir():
    return os.path.dirname(os.path.abspath(__file__))


def sources(root=None):
    """[(name in the archive, bytes)] of the package's .py files, sorted."""
    root = root or package_dir()
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                arcname = "hookshim/" + os.path.relpath(path, root).replace(os.sep, "/")
                with open(path, "rb") as f:
                    found.append((arcname, f.read()))
    return sorted(found)


def build(version=None, root=None):
    """The zipapp's bytes; ``version`` replaces ``__version__`` (test upgrades, pre-releases)."""
    entries = [("__main__.py", MAIN)]
    for name, data in sources(root):
        if version and name == "hookshim/__init__.py":
            data = VERSION_RE.sub(b'__version__ = "%s"' % version.encode(), data)
        entries.append((name, data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3   # unix, whichever system builds it
            zf.writestr(info, data, compresslevel=9)
    return SHEBANG + buf.getvalue()
