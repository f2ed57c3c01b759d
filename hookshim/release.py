"""Releases of the shim on a host: what ``hookshim.pyz install`` and ``rollback`` do.

A launcher names the directory its shim is loaded from, and a hook call imports lazily, so
replacing the files of the running shim in place would let a call in flight mix two versions
(or find a module half-written). Instead each artefact is unpacked once into its own
directory, never changed afterwards, and the switch is the launcher's own atomic rewrite
(``hookshim install`` from the new directory):

    <state_dir>/releases/
        0.2.0-1f2e3d4c5b6a/hookshim/...   one directory per artefact (version-sha256 prefix)
        0.1.0-9a8b7c6d5e4f/hookshim/...   the previous one, kept for ``rollback``
        active.json                       {"release", "previous", "argv"} of the last switch

A hook call that started before the switch finishes with the release it started with; the
next call runs the new one. Only releases that no launcher or unit names any more are pruned.
The spool is shared by all releases (same schema), so nothing spooled is lost or re-chained.
Not on the hook path: plain ``os`` and ``zipfile`` are fine here.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

ACTIVE = "active.json"


class ReleaseError(Exception):
    """A release cannot be unpacked or switched to (nothing on the host was changed)."""


def archive_version(pyz):
    """``__version__`` of the hookshim package inside the zipapp ``pyz``."""
    with zipfile.ZipFile(pyz) as zf:
        text = zf.read("hookshim/__init__.py").decode("utf-8")
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise ReleaseError("%s: hookshim/__init__.py has no __version__" % pyz)


def release_name(pyz):
    """``<version>-<first 12 hex of the archive's sha256>``: one name per artefact."""
    digest = hashlib.sha256()
    with open(pyz, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return "%s-%s" % (archive_version(pyz), digest.hexdigest()[:12])


def unpack(pyz, releases_dir):
    """The release directory for ``pyz``, unpacked now if it is not there yet. A directory
    appears complete or not at all (unpacked aside, then renamed)."""
    target = os.path.join(releases_dir, release_name(pyz))
    if os.path.isdir(target):
        return target
    os.makedirs(releases_dir, 0o755, exist_ok=True)
    tmp = "%s.unpacking-%d" % (target, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with zipfile.ZipFile(pyz) as zf:
            for info in zf.infolist():
                if info.filename.startswith("hookshim/") and not info.is_dir():
                    _extract(zf, info, tmp)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _extract(zf, info, root):
    path = os.path.normpath(os.path.join(root, info.filename))
    if not path.startswith(root + os.sep):
        raise ReleaseError("%s: unsafe path in archive" % info.filename)
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    with open(path, "wb") as f:
        f.write(zf.read(info))
        f.flush()
        os.fsync(f.fileno())   # a release that survived a crash must be whole
    os.chmod(path, 0o644)


def run_from(release, argv, python):
    """Run ``hookshim <argv>`` from the unpacked ``release`` (so the launchers and the unit
    it writes name that directory); returns the exit status."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from hookshim.cli import main; sys.exit(main(%r))" % (release, list(argv)))
    return subprocess.call([python, "-I", "-S", "-c", code])


def read_active(releases_dir):
    try:
        with open(os.path.join(releases_dir, ACTIVE), "r", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def write_active(releases_dir, active):
    path = os.path.join(releases_dir, ACTIVE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(active, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def switch(releases_dir, name, argv, python):
    """Install from release ``name`` with ``argv``; on success it becomes the active one
    and the one it replaced the previous one. Returns the exit status."""
    active = read_active(releases_dir)
    status = run_from(os.path.join(releases_dir, name), argv, python)
    if status != 0:
        return status
    previous = active.get("release")
    write_active(releases_dir, {"release": name, "argv": list(argv),
                                "previous": previous if previous != name
                                else active.get("previous")})
    prune(releases_dir, referenced=_referenced(argv))
    return 0


def rollback(releases_dir, python):
    """Switch back to the previous release with the arguments of the last install."""
    active = read_active(releases_dir)
    previous = active.get("previous")
    if not previous or not os.path.isdir(os.path.join(releases_dir, previous)):
        raise ReleaseError("no previous release in %s to roll back to" % releases_dir)
    return switch(releases_dir, previous, active["argv"], python)


def prune(releases_dir, referenced=()):
    """Remove releases other than the active and previous ones that no file in
    ``referenced`` (launchers, units) still names."""
    active = read_active(releases_dir)
    keep = {active.get("release"), active.get("previous")}
    texts = [_read_text(p) for p in referenced]
    for name in sorted(os.listdir(releases_dir)):
        path = os.path.join(releases_dir, name)
        if name in keep or not os.path.isdir(path) or ".unpacking-" in name:
            continue
        if not any(path in text for text in texts):
            shutil.rmtree(path)


def _read_text(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _referenced(argv):
    """Launchers and the forwarder unit the install in ``argv`` may have written."""
    args = _install_args(argv)
    from hookshim.config import load_config

    hooks_dir = args.hooks_dir or load_config(args.config).hooks_dir
    paths = [os.path.join(hooks_dir, name) for name in _listdir(hooks_dir)]
    unit_dir = _unit_dir(args)
    if unit_dir:
        paths.append(os.path.join(unit_dir, "hookshim-forward.service"))
    return paths


def _unit_dir(args):
    """Where ``hookshim install`` puts the unit (cli_commands.install's rule)."""
    from hookshim.config import DEFAULT_PATH

    if getattr(args, "no_unit", False):
        return None
    return args.unit_dir or ("/etc/systemd/system" if args.config == DEFAULT_PATH else None)


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _install_args(argv):
    from hookshim.cli import _parser
    from hookshim.config import DEFAULT_PATH

    args = _parser().parse_args(list(argv))
    args.config = os.path.abspath(getattr(args, "config", DEFAULT_PATH))
    return args


# -- the zipapp's command line ---------------------------------------------------------------

USAGE = """hookshim.pyz: the hookshim command line, plus
    hookshim.pyz install [install options] DRIVER...   unpack this release, install from it
    hookshim.pyz rollback [--config C] [--python P]     back to the previous release
    hookshim.pyz releases [--config C]                  unpacked releases, active one marked
    hookshim.pyz remove [--config C]                    uninstall what the last install did
    hookshim.pyz forward ...                            the forwarder, from the active release
    hookshim.pyz version                                this archive's version"""


def main(argv, archive):
    """Entry point of ``hookshim.pyz`` (``archive`` is its path); returns the exit status."""
    argv = list(argv)
    command = _command(argv)
    try:
        if command == "install":
            return _install_release(argv, archive)
        if command in ("rollback", "releases"):
            return _manage(command, argv)
        if command == "forward":
            _exec_active(argv)   # returns only when no release is active
        if command == "remove":
            return _remove(argv)
        if command == "version":
            print(archive_version(archive))
            return 0
    except (ReleaseError, OSError, zipfile.BadZipFile) as exc:
        sys.stderr.write("hookshim: %s\n" % exc)
        return 1
    if command in ("-h", "--help"):
        print(USAGE)
    from hookshim.cli import main as cli_main

    return cli_main(argv)


def _command(argv):
    i = 0
    while i < len(argv) and argv[i].startswith("--config"):
        i += 1 if "=" in argv[i] else 2
    return argv[i] if i < len(argv) else None


def _install_release(argv, archive):
    args = _install_args(argv)
    python = args.python or _default_python()
    from hookshim.config import load_config

    state_dir = os.path.abspath(args.state_dir or load_config(args.config).state_dir)
    releases_dir = os.path.join(state_dir, "releases")
    name = os.path.basename(unpack(archive, releases_dir))
    print("release %s unpacked in %s" % (name, releases_dir))
    sys.stdout.flush()   # before the install's own output
    return switch(releases_dir, name, _absolute_config(argv, args.config), python)


def _absolute_config(argv, config):
    """``argv`` with the config path made absolute and explicit (rollback re-runs it)."""
    rest = list(argv)
    while rest and rest[0].startswith("--config"):
        rest = rest[1:] if "=" in rest[0] else rest[2:]
    return ["--config", config] + rest


def _releases_dir(config, state_dir=None):
    from hookshim.config import DEFAULT_PATH, load_config

    state_dir = state_dir or load_config(config or DEFAULT_PATH).state_dir
    return os.path.join(os.path.abspath(state_dir), "releases")


def _config_arg(argv):
    """The value of --config anywhere in ``argv``, else None."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def _exec_active(argv):
    """Run the forwarder from the active release's directory, not from this archive: a
    package upgrade replaces the archive under a running process, whose later imports
    would then read another version. Returns when no release is active."""
    releases_dir = _releases_dir(_config_arg(argv))
    name = read_active(releases_dir).get("release")
    if not name or not os.path.isdir(os.path.join(releases_dir, name)):
        return
    python = sys.executable or _default_python()
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from hookshim.cli import main; sys.exit(main(%r))"
            % (os.path.join(releases_dir, name), list(argv)))
    sys.stdout.flush()
    os.execv(python, [python, "-I", "-S", "-c", code])


def _remove(argv):
    """Uninstall the drivers the last install put in place; the releases stay for purge."""
    releases_dir = _releases_dir(_config_arg(argv))
    active = read_active(releases_dir)
    if not active:
        print("no hookshim release is active: nothing to uninstall")
        return 0
    args = _install_args(active["argv"])
    uninstall = ["--config", args.config, "uninstall"] + (
        ["--hooks-dir", args.hooks_dir] if args.hooks_dir else []) + args.drivers
    from hookshim.cli import main as cli_main

    status = cli_main(uninstall)
    if status == 0:
        os.unlink(os.path.join(releases_dir, ACTIVE))
    return status


def _manage(command, argv):
    import argparse

    p = argparse.ArgumentParser(prog="hookshim.pyz " + command)
    p.add_argument("--config", default=None)
    p.add_argument("--state-dir", default=None)
    p.add_argument("--python", default=None)
    args = p.parse_args([a for a in argv if a != command])
    releases_dir = _releases_dir(args.config, args.state_dir)
    if command == "rollback":
        return rollback(releases_dir, args.python or _default_python())
    active = read_active(releases_dir)
    for name in _listdir(releases_dir):
        if os.path.isdir(os.path.join(releases_dir, name)):
            mark = {active.get("release"): "active", active.get("previous"): "previous"}
            print("%-30s %s" % (name, mark.get(name, "")))
    return 0


def _default_python():
    from hookshim.install import default_python

    return default_python()
