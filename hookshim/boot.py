"""Start a hook call with the shim's hot-path modules loaded from one precompiled file.

Importing a module through importlib costs about 340,000 instructions before its code runs
(finders, specs, stat and .pyc checks, locks; callgrind on empty modules), and a hook call
needs a dozen hookshim modules: imports were the largest part of what the shim adds to each
call libvirtd waits for. ``launch`` therefore loads them from a single file,
``hookshim/__pycache__/hotpath.<cache tag>.bin`` (marshal, like a .pyc, one per interpreter
version), which is used only when the interpreter's bytecode magic matches and every source
file still has the size and mtime it was compiled from - the check importlib makes for a
.pyc. When the file is missing or stale the modules are imported the normal way and the file
is rewritten (best effort, atomically), so an upgraded or edited shim is picked up by the
next call. ``hookshim install`` writes it up front; docs/hookshim.md has the measurements.
"""

import marshal
import posix
import sys

FORMAT = 1
# Load order: each module's top-level hookshim imports come before it.
HOT = ("hookshim.fs", "hookshim.outcome", "hookshim.answer", "hookshim.wire", "hookshim.event",
       "hookshim.redact", "hookshim.config", "hookshim.scripts", "hookshim.handoff",
       "hookshim.call_event", "hookshim.record",
       "hookshim.hook", "hookshim.policy_xml", "hookshim.policy_cond", "hookshim.policy")
# The direct write of the spool (no forwarder took the event: hookshim/handoff.py), loaded
# from its own file only by a call that writes: with the forwarder running, a call never
# unmarshals or runs them (1.4 M instructions, docs/hookshim.md "Hook storms").
SPOOL = ("hookshim.limits", "hookshim.spool_schema", "hookshim.spool", "hookshim.spool_group")
GROUPS = {"hotpath": HOT, "spool": SPOOL}
PACKAGE_DIR = __file__.rpartition("/")[0]


def launch(config_path, driver, hooks_dir):
    """The launcher's entry point: preload, then hookshim.hook.launch (never returns)."""
    preload()
    from hookshim.hook import launch as run

    run(config_path, driver, hooks_dir)


def preload(group="hotpath"):
    """Load the modules of ``group`` (GROUPS) from its precompiled file; True when it was
    used. Never raises."""
    names = GROUPS[group]
    if all(name in sys.modules for name in names):
        return False
    try:
        entries = _read(blob_path(group), names)
    except Exception:  # noqa: BLE001 - unreadable, stale, other Python: import normally
        entries = None
    if entries is not None:
        try:
            _install(entries)
            return True
        except Exception:  # noqa: BLE001 - a module failed to run: retry the normal way
            for name in names:
                sys.modules.pop(name, None)
    try:
        for name in names:
            __import__(name)
        write(blob_path(group), group)
    except Exception:  # noqa: BLE001 - hookshim.hook's own import reports real problems
        pass
    return False


def blob_path(group="hotpath"):
    tag = sys.implementation.cache_tag
    if tag is None:
        raise ImportError("this Python writes no bytecode caches")
    return "%s/__pycache__/%s.%s.bin" % (PACKAGE_DIR, group, tag)


def _magic():
    return sys.modules["_frozen_importlib_external"].MAGIC_NUMBER


def _source(name):
    return "%s/%s.py" % (PACKAGE_DIR, name.rpartition(".")[2])


def _stamp(path):
    st = posix.stat(path)
    return st.st_mtime_ns, st.st_size


def _read(path, names=HOT):
    """[(name, file, code)] when the file is current for this Python and these sources."""
    with open(path, "rb") as f:
        st = posix.fstat(f.fileno())
        # Code the hook runs as root: only from a file of ours that nobody else may write
        # (importlib trusts any .pyc; this one costs a single fstat to be stricter).
        if st.st_uid != posix.geteuid() or st.st_mode & 0o022:
            return None
        fmt, magic, stored = marshal.loads(f.read())
    if fmt != FORMAT or magic != _magic() or [e[0] for e in stored] != list(names):
        return None
    entries = []
    for name, stamp, code in stored:
        source = _source(name)
        if _stamp(source) != stamp:
            return None
        entries.append((name, source, code))
    return entries


def _install(entries):
    bootstrap = sys.modules["_frozen_importlib_external"]
    package = sys.modules["hookshim"]
    for name, source, code in entries:
        if name in sys.modules:
            continue
        loader = bootstrap.SourceFileLoader(name, source)
        module = type(sys)(name)
        module.__file__, module.__loader__, module.__package__ = source, loader, "hookshim"
        module.__spec__ = sys.modules["_frozen_importlib"].ModuleSpec(name, loader,
                                                                       origin=source)
        module.__spec__.has_location = True
        sys.modules[name] = module
        exec(code, module.__dict__)
        setattr(package, name.rpartition(".")[2], module)


def write(path, group="hotpath"):
    """Compile the modules of ``group`` from their sources into ``path`` (atomically,
    hookshim.fs.replace_file: where the file cannot be created, nothing is compiled).
    Raises OSError."""
    from hookshim.fs import replace_file   # here, not at the top: boot is imported normally

    try:
        posix.mkdir(path.rpartition("/")[0], 0o755)
    except FileExistsError:
        pass
    replace_file(path, lambda: _compile_all(GROUPS[group]))


def _compile_all(names=HOT):
    stored = []
    for name in names:
        source = _source(name)
        stamp = _stamp(source)
        with open(source, "rb") as f:
            code = compile(f.read(), source, "exec", dont_inherit=True)
        if _stamp(source) != stamp:   # changed while being read: leave it to the next call
            return None
        stored.append((name, stamp, code))
    return marshal.dumps((FORMAT, _magic(), stored))
