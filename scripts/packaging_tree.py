"""The file tree of the Debian package (scripts/build_dist.py feeds it to ``dpkg-deb``).

    etc/hookshim/install.conf                 conffile: what the maintainer scripts do
    lib/systemd/system/hookshim-forward.service
    usr/bin/hookshim                          /usr/bin/python3 -I .../hookshim.pyz "$@"
    usr/lib/hookshim/hookshim.pyz             the zipapp
    usr/lib/hookshim/hookshim-pkg             maintainer-script logic (shared with the RPM)
    usr/share/doc/hookshim/{copyright,changelog.gz}, usr/share/man/man1/hookshim.1.gz
"""
import gzip
import hashlib
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "packaging"
EPOCH = 315532800
CHANGELOG = """hookshim (%(version)s) unstable; urgency=medium

  * Built from the hookaudit repository (scripts/build_dist.py).

 -- hookaudit maintainers <hookaudit@example.org>  Tue, 01 Jan 1980 00:00:00 +0000
"""

FILES = [  # (source, destination in the package, mode)
    (PKG / "debian" / "install.conf", "etc/hookshim/install.conf", 0o644),
    (PKG / "debian" / "hookshim-forward.service",
     "lib/systemd/system/hookshim-forward.service", 0o644),
    (PKG / "hookshim.sh", "usr/bin/hookshim", 0o755),
    (PKG / "hookshim-pkg", "usr/lib/hookshim/hookshim-pkg", 0o755),
    (PKG / "debian" / "copyright", "usr/share/doc/hookshim/copyright", 0o644),
]
SCRIPTS = ("postinst", "prerm", "postrm")


def deb_tree(root, pyz, version):
    """Lay out the package under ``root`` (DEBIAN/ included), all mtimes fixed."""
    root = Path(root)
    for src, dst, mode in FILES + [(Path(pyz), "usr/lib/hookshim/hookshim.pyz", 0o644)]:
        _put(root / dst, Path(src).read_bytes(), mode)
    _put(root / "usr/share/doc/hookshim/changelog.gz", _gzip(CHANGELOG % {"version": version}),
         0o644)
    _put(root / "usr/share/man/man1/hookshim.1.gz", _gzip((PKG / "hookshim.1").read_text()),
         0o644)
    control = root / "DEBIAN"
    for name in SCRIPTS:
        _put(control / name, (PKG / "debian" / name).read_bytes(), 0o755)
    _put(control / "conffiles", (PKG / "debian" / "conffiles").read_bytes(), 0o644)
    _put(control / "md5sums", _md5sums(root).encode(), 0o644)
    text = (PKG / "debian" / "control.in").read_text()
    text = text.replace("@VERSION@", version).replace("@SIZE@", str(_installed_kib(root)))
    _put(control / "control", text.encode(), 0o644)
    _fix_times(root)


def _put(path, data, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def _gzip(text):
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def _payload(root):
    return sorted(p for p in root.rglob("*") if p.is_file() and "DEBIAN" not in p.parts)


def _md5sums(root):
    return "".join("%s  %s\n" % (hashlib.md5(p.read_bytes()).hexdigest(),
                                 p.relative_to(root).as_posix()) for p in _payload(root))


def _installed_kib(root):
    return sum((p.stat().st_size + 1023) // 1024 for p in _payload(root))


def _fix_times(root):
    for path in [root, *root.rglob("*")]:
        os.utime(path, (EPOCH, EPOCH), follow_symlinks=False)
        if path.is_dir():
            path.chmod(0o755)
