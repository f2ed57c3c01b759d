"""The few ``os`` helpers the hook path needs, built on the builtin ``posix`` module.

The launcher runs ``python3 -I -S``, and then nothing imports ``os`` at start-up. Importing it
(with ``_collections_abc``, ``stat``, ``posixpath`` and ``genericpath``) costs ~4.4 million
instructions, as much as a third of everything the shim adds to a hook call (valgrind
``--tool=callgrind``, docs/hookshim.md "Where a hook call's time goes"). So the modules on the
hook path (hook, record, config, spool, event, policy, and scripts until a script is run)
use ``posix`` and these helpers; ``tests/hookshim/test_fs.py`` checks that a call never loads
``os`` and that the helpers agree with ``os``/``os.path``. Code off the hook path (CLI,
forwarder, installer, running adopted scripts) uses ``os`` as usual.
"""

import posix
import sys

_ENC = sys.getfilesystemencoding()
_ERRORS = sys.getfilesystemencodeerrors()


def fsencode(name):
    """``os.fsencode``."""
    return name if isinstance(name, bytes) else name.encode(_ENC, _ERRORS)


def fsdecode(name):
    """``os.fsdecode``."""
    return name.decode(_ENC, _ERRORS) if isinstance(name, bytes) else name


def join(path, *parts):
    """``os.path.join`` (POSIX): an absolute part starts over."""
    sep = b"/" if isinstance(path, bytes) else "/"
    for part in parts:
        if part.startswith(sep):
            path = part
        elif not path or path.endswith(sep):
            path += part
        else:
            path += sep + part
    return path


def basename(path):
    """``os.path.basename`` (POSIX)."""
    sep = b"/" if isinstance(path, bytes) else "/"
    return path[path.rfind(sep) + 1:]


def dirname(path):
    """``os.path.dirname`` (POSIX)."""
    sep = b"/" if isinstance(path, bytes) else "/"
    head = path[:path.rfind(sep) + 1]
    if head and head != sep * len(head):
        head = head.rstrip(sep)
    return head


def environb():
    """``os.environb``: the environment as bytes. Once ``os`` is loaded its mapping is the one
    that sees changes (``posix.environ`` is a snapshot taken at start-up)."""
    os = sys.modules.get("os")
    return os.environb if os is not None else posix.environ


def exists(path):
    """``os.path.exists``."""
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


def makedirs(path, mode=0o777):
    """``os.makedirs(path, mode, exist_ok=True)``; ``os`` is loaded only to create."""
    try:
        if posix.stat(path).st_mode & 0o170000 == 0o040000:
            return
    except OSError:
        pass
    import os

    os.makedirs(path, mode, exist_ok=True)


def replace_file(path, make_data):
    """Write the bytes ``make_data()`` returns to ``path`` atomically: a private temporary
    file (O_EXCL, O_NOFOLLOW, 0644) renamed over it, so readers see the old file or the new
    one, whole. The temporary file is created first: where it cannot be (a read-only
    directory), ``make_data`` never runs. None from ``make_data`` writes nothing. Raises
    OSError."""
    tmp = "%s.%d" % (path, posix.getpid())
    fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW,
                    0o644)
    renamed = False
    try:
        try:
            data = make_data()
            view = memoryview(data or b"")
            while view:
                view = view[posix.write(fd, view):]
        finally:
            posix.close(fd)
        if data is not None:
            posix.rename(tmp, path)
            renamed = True
    finally:
        if not renamed:
            try:
                posix.unlink(tmp)
            except OSError:
                pass
