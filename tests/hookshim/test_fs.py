"""hookshim/fs.py: the hook path's os helpers on ``posix``, and the promise behind them.

A hook call never loads ``os`` (nor ``_json``): with ``python3 -I -S`` nothing else does, and
that import is a large share of what the shim adds to every call libvirtd waits for.
"""
import ast
import os
import posixpath
import subprocess

from hypothesis import given
from hypothesis import strategies as st

from app.policy.compiler import compile_dir, dump_bundle
from hookshim import boot, fs
from tests.hookshim.helpers import REPO, SYSTEM_PYTHON

segment = st.sampled_from(["", "/", "//", "a", "b/", "/c", "d//e", ".", "..", "é", "x/y/"])
paths = st.lists(segment, min_size=1, max_size=5).map("".join)


@given(paths, st.lists(paths, max_size=3))
def test_join_basename_dirname_match_posixpath(first, rest):
    assert fs.join(first, *rest) == posixpath.join(first, *rest)
    assert fs.basename(first) == posixpath.basename(first)
    assert fs.dirname(first) == posixpath.dirname(first)
    raw = [p.encode() for p in [first, *rest]]
    assert fs.join(*raw) == posixpath.join(*raw)
    assert fs.dirname(raw[0]) == posixpath.dirname(raw[0])
    assert fs.basename(raw[0]) == posixpath.basename(raw[0])


def test_fsencode_fsdecode_exists_makedirs_environb(tmp_path, monkeypatch):
    for name in ["plain", "é", "bad\udcff"]:
        assert fs.fsencode(name) == os.fsencode(name)
        assert fs.fsdecode(os.fsencode(name)) == name
    assert fs.exists(str(tmp_path)) and not fs.exists(str(tmp_path / "nope"))
    assert not fs.exists("bad\0path")
    target = tmp_path / "a" / "b"
    fs.makedirs(str(target), 0o700)
    fs.makedirs(str(target), 0o700)   # exists: no error
    assert target.is_dir() and (target.stat().st_mode & 0o777) == 0o700
    monkeypatch.setenv("HOOKSHIM_FS_TEST", "1")   # os is loaded here: its view is the live one
    assert fs.environb()[b"HOOKSHIM_FS_TEST"] == b"1"


CALL = """
import posix, sys
sys.path.insert(0, {repo!r})
d = {state!r}
r, w = posix.pipe(); posix.write(w, {xml!r}); posix.close(w)
from hookshim.hook import main
rc = main([{guest!r}, {op!r}, 'begin', '-'], d + '/hookshim.conf', 'qemu', d, fds=(r, 1, 2))
heavy = {{'os', '_json', '_collections_abc', 'posixpath', 'stat', 'json', 're', 'subprocess',
         'functools', 'hashlib', 'urllib', 'sqlite3.dbapi2'}}
loaded = sorted(heavy & set(sys.modules)), sorted(m for m in sys.modules if m[:9] == 'hookshim.')
print(repr((rc,) + loaded + ('hookshim.policy' in sys.modules,)))
"""


def run_call(state, op, guest="vm1", xml=b"<domain><name>vm1</name><uuid>u</uuid></domain>"):
    """(exit code, heavy modules loaded, hookshim modules loaded, policy evaluated)."""
    code = CALL.format(repo=str(REPO), state=str(state), xml=xml, guest=guest, op=op)
    out = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True, cwd="/", env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    return ast.literal_eval(out.stdout)


def with_policy_and_script(state):
    """The example policy bundle and an adopted script, the bundle's cache written (the
    one call that writes it loads json)."""
    bundle, findings = compile_dir(REPO / "policies")
    assert bundle is not None, findings
    (state / "policy-bundle.json").write_bytes(dump_bundle(bundle))
    adopted = state / "qemu.hookshim"
    adopted.mkdir()
    (adopted / "main").write_text("#!/bin/sh\ncat >/dev/null\nexit 0\n")
    (adopted / "main").chmod(0o755)
    run_call(state, "prepare")


def test_a_hook_call_never_loads_os_json_re_or_subprocess(tmp_path):
    (tmp_path / "hookshim.conf").write_text("state_dir = %s\n" % tmp_path)
    for op in ("prepare", "start"):
        code, heavy, _, evaluated = run_call(tmp_path, op)
        assert (code, heavy, evaluated) == (0, [], False)
    # with the example policy bundle, a policy evaluated, and an adopted script run
    with_policy_and_script(tmp_path)
    for op in ("prepare", "start"):
        code, heavy, _, evaluated = run_call(tmp_path, op)
        assert (code, heavy, evaluated) == (0, [], True)


def test_every_module_a_hook_call_loads_comes_from_the_precompiled_file(tmp_path):
    """boot.HOT names every hookshim module a call needs (policy and scripts included),
    and boot.SPOOL those of the direct write (no forwarder here), so none is left to
    importlib. Loaded the normal way, on purpose: hookshim.policy_mutate (a rule that
    rewrites a filter's XML: the example migrate rule), filter_check, and spool_reset's WAL
    check when the spool is created."""
    (tmp_path / "hookshim.conf").write_text("state_dir = %s\n" % tmp_path)
    with_policy_and_script(tmp_path)
    for op in ("prepare", "start", "started", "stopped", "release"):
        assert set(run_call(tmp_path, op)[2]) - set(boot.HOT) - set(boot.SPOOL) == set()


def test_replace_file_is_atomic_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f"
    fs.replace_file(str(target), lambda: b"one")
    fs.replace_file(str(target), lambda: None)          # nothing to write: old file stays
    assert target.read_bytes() == b"one"

    def boom():
        raise ValueError("no data")
    try:
        fs.replace_file(str(target), boom)
    except ValueError:
        pass
    assert target.read_bytes() == b"one" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    calls = []
    try:
        fs.replace_file(str(tmp_path / "missing" / "f"), lambda: calls.append(1) or b"x")
    except FileNotFoundError:
        pass
    assert calls == []                                   # no temporary file: nothing computed
