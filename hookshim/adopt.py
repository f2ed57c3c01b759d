"""Move a driver's hooks aside and back, reversibly, without ever following a symlink.

Layout after ``install qemu`` (hooks_dir = /etc/libvirt/hooks):

    qemu                  the launcher (generated; runs the shim with the system Python)
    qemu.hookshim/        what the host had, now run by the shim with libvirt's semantics
        main              the former ``qemu`` hook (moved, so bytes, mode and owner stay)
        d/                the former ``qemu.d/`` entries (the emptied qemu.d/ is removed),
                          or the former ``qemu.d`` symlink itself (libvirt follows it too)
        manifest.json     how to put everything back (modes, symlink targets)

libvirt ignores ``qemu.hookshim/`` (it only looks at ``qemu`` and ``qemu.d``).

Every check runs before the first change (``check_install``, ``check_uninstall``): a path
that is a symlink where a directory or a fresh file is expected, a planted temporary name,
a driver name that leaves the hooks directory - each is an ``InstallError`` and nothing is
touched. Files we create are opened with O_CREAT|O_EXCL|O_NOFOLLOW, so a link planted after
the checks makes the write fail instead of landing elsewhere.
"""

import json
import os
import stat

from hookshim.scripts import ADOPTED_SUFFIX

# libvirt's hook names (src/util/virhook.h, enum virHookDriverType): nothing else is a hook.
DRIVERS = ("libxl", "qemu", "lxc", "bhyve", "network", "daemon")
MANIFEST = "manifest.json"
LAUNCHER_MARK = "# hookshim launcher"
TMP_SUFFIX = ".hookshim-tmp"


class InstallError(Exception):
    """Installing or uninstalling one driver cannot proceed safely (nothing was changed)."""


class Paths:
    """The paths of one driver's hook; the name is checked before any is built."""

    def __init__(self, hooks_dir, driver):
        if driver not in DRIVERS:
            raise InstallError("%r is not a libvirt hook name (one of: %s)"
                               % (driver, ", ".join(DRIVERS)))
        self.driver = driver
        self.hook = os.path.join(hooks_dir, driver)
        self.d_dir = self.hook + ".d"
        self.home = self.hook + ADOPTED_SUFFIX
        self.home_d = os.path.join(self.home, "d")
        self.manifest = os.path.join(self.home, MANIFEST)


def kind(path):
    """absent | link | dir | file | other, without following a symlink."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "absent"
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _must_be(path, *kinds):
    found = kind(path)
    if found not in kinds:
        raise InstallError("%s is a %s where only %s is safe; left alone, nothing changed"
                           % (path, found, " or ".join(kinds)))


def _no_planted_tmp(path):
    if kind(path) != "absent":
        raise InstallError("%s exists (left over or planted); remove it and run again - "
                           "nothing changed" % path)


def is_dir_link(path):
    """A symlink that resolves to a directory (libvirt's opendir follows it)."""
    return kind(path) == "link" and os.path.isdir(path)


# -- checks ------------------------------------------------------------------------------------


def check_install(p, manifest, adopt_d):
    """Raise InstallError for anything install must not touch."""
    for path in (p.hook + TMP_SUFFIX, p.manifest + ".tmp"):
        _no_planted_tmp(path)
    _must_be(p.home, "absent", "dir")
    _must_be(p.manifest, "absent", "file")
    home_d_is_link = bool(manifest and (manifest.get("d_dir") or {}).get("type") == "symlink")
    _must_be(p.home_d, *(("link",) if home_d_is_link else ("absent", "dir")))
    if manifest and manifest.get("main") is not None and _replaced_main(p):
        raise InstallError("%s was replaced after install and %s/main already holds the "
                           "adopted hook; move one of them away first" % (p.hook, p.home))
    if adopt_d:
        _check_d(p, manifest, home_d_is_link)


def _replaced_main(p):
    return kind(p.hook) != "absent" and not is_launcher(p.hook) and not already_adopted(p)


def already_adopted(p):
    """``home/main`` is the hook's second name: an install stopped before the launcher."""
    main = os.path.join(p.home, "main")
    if kind(main) != kind(p.hook) or kind(main) not in ("file", "link"):
        return False
    if kind(main) == "link":
        target = os.path.normpath(os.path.join(os.path.dirname(p.hook), os.readlink(p.hook)))
        return os.readlink(main) == target
    return os.path.samestat(os.lstat(main), os.lstat(p.hook))


def _check_d(p, manifest, home_d_is_link):
    if is_dir_link(p.d_dir):
        if home_d_is_link or _listdir(p.home_d):
            raise InstallError("%s is a symlink but %s already holds adopted scripts; "
                               "move one of them away first" % (p.d_dir, p.home_d))
    elif kind(p.d_dir) == "dir":
        if home_d_is_link:
            raise InstallError("%s reappeared but %s is the adopted %s symlink; move one "
                               "of them away first" % (p.d_dir, p.home_d, p.d_dir))
        clash = sorted(set(_listdir(p.d_dir)) & set(_listdir(p.home_d)))
        if clash:
            raise InstallError("%s exists in both %s and %s" % (clash[0], p.d_dir, p.home_d))


def check_uninstall(p, manifest):
    _no_planted_tmp(p.hook + TMP_SUFFIX)   # a symlinked main hook is restored through it
    _must_be(p.home, "absent", "dir")
    if kind(p.hook) != "absent" and not is_launcher(p.hook):
        raise InstallError("%s is not the hookshim launcher (replaced after install?); "
                           "left alone" % p.hook)
    if manifest is None:
        return
    d_info = manifest.get("d_dir") or {}
    _must_be(p.home_d, *(("link", "absent") if d_info.get("type") == "symlink"
                         else ("dir", "absent")))
    adopted = _listdir(p.home_d) if kind(p.home_d) == "dir" else []
    if d_info.get("type") == "symlink" and kind(p.home_d) == "link":
        _must_be(p.d_dir, "absent")
    elif d_info or adopted:
        _must_be(p.d_dir, "absent", "dir")   # a .d swapped for a symlink: never write there
        clash = [n for n in adopted if kind(os.path.join(p.d_dir, n)) != "absent"]
        if clash:
            raise InstallError("%s appeared since install; %s/%s left in place"
                               % (os.path.join(p.d_dir, clash[0]), p.home_d, clash[0]))
    if kind(os.path.join(p.home, "main")) != "absent":
        _must_be(p.hook, "absent", "file")


def _listdir(path):
    return sorted(os.listdir(path)) if kind(path) == "dir" else []


# -- files -------------------------------------------------------------------------------------


def is_launcher(path, mark=LAUNCHER_MARK):
    """True when ``path`` itself (never a symlink's target) is a hookshim launcher."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        return stat.S_ISREG(os.fstat(f.fileno()).st_mode) and mark.encode() in f.read(512)


def write_new(path, data, mode):
    """Write ``path`` + TMP_SUFFIX exclusively (never through a link), fsync, rename over
    ``path``: libvirtd never sees a half-written hook, and a planted link stops the write."""
    tmp = path + TMP_SUFFIX
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise InstallError("%s exists (left over or planted); remove it and run again"
                           % tmp) from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
        os.fchmod(f.fileno(), mode)
    os.replace(tmp, path)


def load_manifest(p):
    if kind(p.manifest) == "absent":
        return None
    _must_be(p.manifest, "file")
    fd = os.open(p.manifest, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        return json.load(f)


def save_manifest(p, manifest):
    text = json.dumps(manifest, indent=1, sort_keys=True)
    tmp = p.manifest + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise InstallError("%s exists (left over or planted); remove it" % tmp) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p.manifest)


def describe(path):
    """What to restore: a symlink's target text, or a file/dir's permission bits."""
    if kind(path) == "link":
        return {"type": "symlink", "target": os.readlink(path)}
    mode = os.lstat(path).st_mode & 0o7777
    return {"type": "dir" if kind(path) == "dir" else "file", "mode": mode}


def move(src, dst, redirects=None):
    """Move ``src`` to ``dst`` (which must not exist). A relative symlink is re-pointed
    absolutely so it still resolves from its new place; the returned info keeps its text."""
    info = describe(src)
    if info["type"] == "symlink":
        target = os.path.normpath(os.path.join(os.path.dirname(src), info["target"]))
        target = (redirects or {}).get(target, target)  # a .d link to the main hook
        os.symlink(target, dst)
        os.unlink(src)
    else:
        os.rename(src, dst)  # same tree: keeps inode, bytes, mode, owner, mtime
    return info


def move_back(src, dst, info):
    if kind(dst) != "absent":
        raise InstallError("%s exists; %s left in place" % (dst, src))
    if info and info.get("type") == "symlink":
        os.symlink(info["target"], dst)
        os.unlink(src)
    else:
        os.rename(src, dst)
