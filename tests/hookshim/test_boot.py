"""hookshim/boot.py: the hot-path modules from one precompiled file, never a stale one.

Each case runs the system Python (-I -S, as the launcher does) on a private copy of the
package, so the repository's own __pycache__ is never touched.
"""
import marshal
import shutil
import subprocess

import pytest

from tests.hookshim.helpers import REPO, SYSTEM_PYTHON

PROBE = """
import sys
sys.path.insert(0, {root!r})
from hookshim import boot
used = boot.preload()
import hookshim.hook as hook, hookshim.outcome as outcome, hookshim.policy_mutate
assert hook.__spec__.origin == hook.__file__ == {root!r} + '/hookshim/hook.py', hook.__file__
assert hook.__loader__.get_source('hookshim.hook').startswith('\"\"\"')
assert sys.modules['hookshim'].hook is hook
assert 'os' not in sys.modules
print(used, getattr(outcome, 'MARK', None))
"""


@pytest.fixture
def root(tmp_path):
    shutil.copytree(REPO / "hookshim", tmp_path / "hookshim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def preload(root):
    proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", PROBE.format(root=str(root))],
                          capture_output=True, text=True, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def blob(root):
    return next((root / "hookshim" / "__pycache__").glob("hotpath.*.bin"))


def test_first_call_writes_the_file_later_calls_use_it(root):
    assert preload(root) == ["False", "None"]
    assert blob(root).stat().st_size > 0
    assert preload(root) == ["True", "None"]


def test_an_edited_source_is_picked_up_by_the_next_call(root):
    preload(root)
    source = root / "hookshim" / "outcome.py"
    source.write_text(source.read_text() + "\nMARK = 1\n")
    assert preload(root) == ["False", "1"]    # stale: normal import, file rewritten
    assert preload(root) == ["True", "1"]
    source.write_text(source.read_text().replace("MARK = 1", "MARK = 22"))   # new size: a
    # same-size edit within the same second would fool importlib's own .pyc check too
    assert preload(root) == ["False", "22"]


def test_a_corrupt_or_foreign_file_is_ignored_and_replaced(root):
    preload(root)
    path = blob(root)
    path.write_bytes(b"\x00garbage")
    assert preload(root) == ["False", "None"]
    assert preload(root) == ["True", "None"]
    fmt, magic, stored = marshal.loads(path.read_bytes())
    path.write_bytes(marshal.dumps((fmt, b"\x00\x00\r\n", stored)))   # another Python's magic
    assert preload(root) == ["False", "None"]
    assert preload(root) == ["True", "None"]


def test_a_module_that_fails_to_run_falls_back_to_normal_imports(root):
    preload(root)
    path = blob(root)
    fmt, magic, stored = marshal.loads(path.read_bytes())
    broken = [(n, stamp, compile("raise RuntimeError('boom')", n, "exec") if n.endswith(
        "wire") else code) for n, stamp, code in stored]
    path.write_bytes(marshal.dumps((fmt, magic, broken)))
    assert preload(root) == ["False", "None"]


def test_install_precompiles_for_the_launchers_python(tmp_path):
    from hookshim.install import install

    lines = []
    assert install(["libxl"], str(tmp_path / "hooks"), str(tmp_path / "state"),
                   str(tmp_path / "hookshim.conf"), python=SYSTEM_PYTHON,
                   out=lines.append) == 0
    assert not [line for line in lines if "not precompiled" in line]
    assert "from hookshim.boot import launch" in (tmp_path / "hooks" / "libxl").read_text()
    assert list((REPO / "hookshim" / "__pycache__").glob("hotpath.*.bin"))


def test_an_unwritable_cache_only_means_normal_imports(root):
    (root / "hookshim" / "__pycache__").write_text("not a directory")   # as root, 0o555 is
    assert preload(root) == ["False", "None"]                            # no obstacle
    assert preload(root) == ["False", "None"]


def test_a_file_others_may_write_is_not_trusted(root):
    preload(root)
    path = blob(root)
    path.chmod(0o666)                       # group/world-writable: ignored, then replaced
    assert preload(root) == ["False", "None"]
    assert path.stat().st_mode & 0o022 == 0
    assert preload(root) == ["True", "None"]
