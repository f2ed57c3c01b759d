#!/usr/bin/env python3
"""Build the host artefacts from this checkout: ``make dist`` (docs/fleet.md "Artefacts").

    dist/hookshim.pyz                  single-file zipapp (stdlib zipapp format, Python >= 3.9)
    dist/hookshim_<version>_all.deb    Debian package (dpkg-deb; skipped when it is missing)
    dist/hookshim-<version>-1.noarch.rpm   with --rpm, when rpmbuild is installed
    dist/SHA256SUMS

Reproducible: the same checkout gives the same bytes (entries sorted, fixed timestamps,
fixed permissions, no build paths), so a host can check what it runs against a rebuild.
``--version`` stamps another version into the artefacts (test upgrades, pre-releases).
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EPOCH = 315532800          # 1980-01-01, the earliest time a zip entry can hold
RPM_SOURCES = ("debian/hookshim-forward.service", "debian/install.conf", "hookshim-pkg",
               "hookshim.sh", "hookshim.1")


def package_version():
    text = (REPO / "hookshim" / "__init__.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def build_zipapp(out, version):
    """Write the zipapp (hookshim/zipapp.py); returns its path."""
    sys.path.insert(0, str(REPO))
    from hookshim import zipapp

    out.write_bytes(zipapp.build(version, str(REPO / "hookshim")))
    out.chmod(0o755)
    return out


def build_deb(dist, pyz, version):
    """Lay out the package tree from packaging/debian and run dpkg-deb; returns its path."""
    from packaging_tree import deb_tree   # scripts/, on sys.path when run as a script

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        deb_tree(root, pyz, version)
        out = dist / ("hookshim_%s_all.deb" % version)
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
        run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(out)], env)
    return out


def build_rpm(dist, pyz, version):
    """rpmbuild -bb packaging/rpm/hookshim.spec with the zipapp as its source."""
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        (top / "SOURCES").mkdir()
        shutil.copy2(pyz, top / "SOURCES" / "hookshim.pyz")
        for src in RPM_SOURCES:
            shutil.copy2(REPO / "packaging" / src, top / "SOURCES")
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
        run(["rpmbuild", "-bb", "--define", "_topdir %s" % top,
             "--define", "version_override %s" % version, "--define", "_buildhost reproducible",
             "--define", "use_source_date_epoch_as_buildtime 1",
             "--define", "clamp_mtime_to_source_date_epoch 1",
             str(REPO / "packaging" / "rpm" / "hookshim.spec")], env)
        built = next((top / "RPMS" / "noarch").glob("*.rpm"))
        out = dist / built.name
        shutil.copy2(built, out)
    return out


def run(cmd, env):
    """Run a packaging tool quietly; its whole output only when it fails."""
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit("%s failed (exit %d)" % (cmd[0], proc.returncode))


def write_sums(dist, paths):
    lines = ["%s  %s\n" % (hashlib.sha256(p.read_bytes()).hexdigest(), p.name)
             for p in sorted(paths)]
    (dist / "SHA256SUMS").write_text("".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dist", default=str(REPO / "dist"), help="output directory (./dist)")
    p.add_argument("--version", default=None, help="version to stamp (hookshim.__version__)")
    p.add_argument("--no-deb", action="store_true", help="only the zipapp")
    p.add_argument("--rpm", action="store_true", help="also build the RPM (needs rpmbuild)")
    args = p.parse_args(argv)
    version = args.version or package_version()
    dist = Path(args.dist)
    dist.mkdir(parents=True, exist_ok=True)
    built = [build_zipapp(dist / "hookshim.pyz", version)]
    if not args.no_deb:
        if shutil.which("dpkg-deb"):
            built.append(build_deb(dist, built[0], version))
        else:
            print("dpkg-deb not found: no .deb", file=sys.stderr)
    if args.rpm:
        built.append(build_rpm(dist, built[0], version))
    write_sums(dist, built)
    for path in built:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
