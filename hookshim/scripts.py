"""Running the host's adopted hook scripts with libvirt's semantics (virHookCall).

- the main script first, then every executable in the ``.d`` directory, sorted by byte
  order (libvirt: strcmp of the paths); "executable" = regular file (after symlinks) with
  the execute permission, as virFileIsExecutable;
- all of them always run; the result is a failure if any failed;
- filter ops: each script's stdin is the last successful stdout so far that is not empty or
  whitespace-only (``virStringIsEmpty``), unless a script has already failed, then the
  original input (virHookCall's ``script_ret`` test);
- argv: ``<object> <op> <subop> <extra>``, the environment the shim got, cwd ``/``.

Unlike libvirt, the shim never waits for a pipe: each script's stdin/stdout/stderr are
anonymous in-memory files (memfd), so a background child that keeps stdout open cannot
hang the call; the shim waits for the script process only. Each script is a session
leader, so a timeout kills its whole process group. Scripts are spawned with posix_spawn:
``subprocess`` costs ~10 ms of imports per call. Finding the scripts (every call) uses
``posix`` and hookshim/fs.py, never ``os`` (hookshim/fs.py says why).
"""

import posix
import time

from hookshim.fs import basename, environb, fsdecode, fsencode, join

ADOPTED_SUFFIX = ".hookshim"   # <hooks_dir>/<driver>.hookshim/{main, d/} (see install.py)
SPAWN_FAILED = 126             # recorded exit code when a script cannot be executed


class Result:
    """One script run: the ``scripts`` entry of the event plus its stdout."""

    __slots__ = ("path", "exit_code", "duration_ms", "stderr", "timed_out", "stdout",
                 "scrubbed")

    def __init__(self, path, exit_code, duration_ms, stderr, timed_out, stdout, scrubbed=0):
        self.path, self.exit_code, self.duration_ms = path, exit_code, duration_ms
        self.stderr, self.timed_out, self.stdout = stderr, timed_out, stdout
        self.scrubbed = scrubbed   # secret values removed from stderr (hookshim/scrub.py)

    def as_event(self):
        return {"path": self.path, "exit_code": self.exit_code, "duration_ms": self.duration_ms,
                "stderr": self.stderr, "timed_out": self.timed_out}


def is_executable(path):
    """virFileIsExecutable: a regular file (following symlinks) we may execute."""
    try:
        regular = posix.stat(path).st_mode & 0o170000 == 0o100000   # stat.S_ISREG
        return regular and posix.access(path, posix.X_OK)
    except (OSError, ValueError):
        return False


def executables_in(directory):
    """Executables in ``directory`` sorted by byte order of name; [] when it is absent."""
    directory = fsencode(directory)
    try:
        names = sorted(posix.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    paths = [join(directory, n) for n in names]
    return [fsdecode(p) for p in paths if is_executable(p)]


def adopted(hooks_dir, driver):
    """[(shown_path, real_path)] in run order: the adopted main script, then its .d scripts.

    ``shown_path`` is where the script lived before adoption (what the event records);
    ``real_path`` is where it lives now.
    """
    home = join(hooks_dir, driver + ADOPTED_SUFFIX)
    scripts = []
    main = join(home, "main")
    if is_executable(main):
        scripts.append((join(hooks_dir, driver), main))
    shown_d = join(hooks_dir, driver + ".d")
    for real in executables_in(join(home, "d")):
        scripts.append((join(shown_d, basename(real)), real))
    return scripts, is_executable(main)


def unmanaged(hooks_dir, driver):
    """Executables in ``<driver>.d/`` that libvirt will run itself, behind the shim."""
    return executables_in(join(hooks_dir, driver + ".d"))


def seal_fds():
    """Make every fd above 2 close-on-exec, so no script inherits one by accident (libvirt
    gives the hook only 0-2, but ``hookshim run`` may be started from anywhere)."""
    try:
        fds = [int(n) for n in posix.listdir("/proc/self/fd")]
    except OSError:
        fds = range(3, 256)
    for fd in fds:
        if fd > 2:
            try:
                posix.set_inheritable(fd, False)
            except OSError:
                pass


def run_chain(scripts, has_main, args, data, is_filter, timeout, stderr_max, secrets=()):
    """Run ``scripts`` like virHookCall; returns (results, failed, output_bytes_or_None).

    ``args``: the four argv strings or bytes; ``data``: stdin bytes. ``output`` is the last
    successful stdout that is not blank (filter ops only; libvirt keeps its input otherwise).
    ``secrets``: byte strings (hookshim/scrub.py ``forms``) removed from each stderr before
    it is cut to ``stderr_max``.
    """
    results, output = [], None
    # virHookCall: script_ret starts at 1 ("no main script"), 0 success, -1 failure,
    # and keeps the minimum; later filter input uses the output only while it is 0.
    status = 1 if not has_main else None
    for shown, real in scripts:
        feed = output if (is_filter and status == 0 and output) else data
        res = run_one(real, shown, args, feed, timeout, stderr_max, keep_stdout=is_filter,
                      secrets=secrets)
        results.append(res)
        ok = res.exit_code == 0 and not res.timed_out
        status = (0 if ok else -1) if status is None else min(status, 0 if ok else -1)
        if ok and is_filter and not is_blank(res.stdout):
            output = res.stdout
    return results, status == -1, output


def is_blank(data):
    """virStringIsEmpty: nothing, or only ASCII whitespace (g_ascii_isspace); libvirt then
    keeps the input, and does not chain the blank output to the next script."""
    return not data or not data.strip(b" \t\n\v\f\r")


def _memfd(name, data=b""):
    try:
        fd = posix.memfd_create(name)  # close-on-exec by default; no filesystem needed
    except (AttributeError, OSError):
        import tempfile

        fd = posix.dup(tempfile.TemporaryFile().fileno())
    if data:
        view = memoryview(data)
        while view:
            view = view[posix.write(fd, view):]
        posix.lseek(fd, 0, 0)  # SEEK_SET
    return fd


def _read_back(fd, limit=None):
    posix.lseek(fd, 0, 0)  # SEEK_SET
    chunks, left = [], limit if limit is not None else 1 << 62
    while left > 0:
        chunk = posix.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def run_one(real, shown, args, data, timeout, stderr_max, keep_stdout=True, secrets=()):
    """Spawn one script with memfd stdio; wait for it (and kill its group on timeout).

    Outside filter ops libvirt ignores a hook's stdout: it goes to /dev/null, so a chatty
    script cannot fill memory. The stderr kept (for the event, and shown to libvirtd) is
    scrubbed of ``secrets`` before it is cut to ``stderr_max`` bytes: a secret straddling
    the cap is masked whole, never kept in part."""
    out = _memfd("hookshim-stdout") if keep_stdout else posix.open("/dev/null", posix.O_WRONLY)
    fds = [_memfd("hookshim-stdin", data), out, _memfd("hookshim-stderr")]
    start = time.monotonic()
    try:
        argv = [fsencode(shown)] + [fsencode(a) for a in args]
        actions = [(posix.POSIX_SPAWN_DUP2, fd, n) for n, fd in enumerate(fds)]
        try:
            pid = posix.posix_spawn(fsencode(real), argv, _child_env(), file_actions=actions,
                                 setsid=True)
        except OSError as exc:
            return Result(shown, SPAWN_FAILED, _ms(start), "cannot execute: %s" % exc, False, b"")
        code, timed_out = _wait(pid, timeout)
        stderr, scrubbed = _stderr(fds[2], stderr_max, secrets)
        stdout = _read_back(fds[1]) if keep_stdout else b""
        return Result(shown, code, _ms(start), stderr or None, timed_out, stdout, scrubbed)
    finally:
        for fd in fds:
            posix.close(fd)


def _stderr(fd, limit, secrets):
    """(stderr text, secrets scrubbed): read past ``limit`` by the longest secret, scrub,
    then cut; hookshim/scrub.py only loads when there are secrets."""
    if not secrets:
        return _read_back(fd, limit).decode("utf-8", "replace"), 0
    from hookshim.scrub import bounded, slack

    extra = slack(secrets) if limit is not None else 0
    raw = _read_back(fd, None if limit is None else limit + extra)
    data, count = bounded(raw, limit, secrets)
    return data.decode("utf-8", "replace"), count


NESTED_ENV = "HOOKSHIM_NESTED"


def _child_env():
    """libvirt's environment plus one marker: an adopted script that (directly or through a
    symlink) runs the hook again must not run the adopted scripts again, forever."""
    env = dict(environb())
    env[NESTED_ENV.encode()] = b"1"
    return env


def nested():
    """True when this call was started by one of the shim's own adopted scripts."""
    return environb().get(NESTED_ENV.encode()) == b"1"


def _ms(start):
    return round((time.monotonic() - start) * 1000.0, 3)


def _wait(pid, timeout):
    """(exit_code, timed_out). A signal death is recorded as -signal, like subprocess."""
    if timeout and not _wait_exit(pid, timeout):
        try:
            posix.killpg(pid, 9)   # the script is its session's leader: pgid == pid
        except OSError:
            pass
        return _reap(pid), True
    return _reap(pid), False


def _reap(pid):
    while True:
        try:
            _, status = posix.waitpid(pid, 0)
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            continue
    if posix.WIFSIGNALED(status):
        return -posix.WTERMSIG(status)
    return posix.WEXITSTATUS(status)


def _wait_exit(pid, timeout):
    """True when ``pid`` exited within ``timeout`` seconds (it is not reaped)."""
    try:
        pidfd = posix.pidfd_open(pid)
    except (AttributeError, OSError):
        return _poll_exit(pid, timeout)
    try:
        import select

        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        posix.close(pidfd)


def _poll_exit(pid, timeout):
    deadline, delay = time.monotonic() + timeout, 0.001
    while time.monotonic() < deadline:
        if posix.waitid(posix.P_PID, pid, posix.WEXITED | posix.WNOHANG | posix.WNOWAIT) is not None:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return False
