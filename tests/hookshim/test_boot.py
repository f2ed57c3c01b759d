"""hookshim/boot.py: the hot-path modules from one precompiled file, never a stale one.

Each case runs the system Python (-I -S, as the launcher does) on a private copy of the
package, so the repository's own __pycache__ is never touched.
"""
import ast
import marshal
import shutil
import subprocess

import pytest

from hookshim import boot
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
    assert list((REPO / "hookshim" / "__pycache__").glob("spool.*.bin"))   # boot.SPOOL


SPOOL_PROBE = """
import sys
sys.path.insert(0, {root!r})
from hookshim import boot
boot.preload()
used = boot.preload('spool')
import hookshim.spool_group as g
assert g.__file__ == {root!r} + '/hookshim/spool_group.py'
print(used, boot.preload('spool'))
"""


def test_the_direct_writes_modules_have_their_own_file(root):
    def run():
        proc = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", SPOOL_PROBE.format(
            root=str(root))], capture_output=True, text=True, cwd="/")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()
    # first: imported normally and written; then loaded from it; loaded twice: no-op
    assert run() == ["False", "False"]
    assert list((root / "hookshim" / "__pycache__").glob("spool.*.bin"))
    assert run() == ["True", "False"]


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


def top_level_imports(name):
    """The hookshim modules ``name`` imports when it is loaded (not inside functions)."""
    tree = ast.parse((REPO / "hookshim" / (name.rpartition(".")[2] + ".py")).read_text())
    found, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update("%s.%s" % (node.module, alias.name) for alias in node.names)
        todo.extend(ast.iter_child_nodes(node))
    return {m for m in found if m.startswith("hookshim.") and
            (REPO / "hookshim" / (m.partition(".")[2] + ".py")).exists()}


def test_hot_loads_each_module_after_the_hookshim_modules_it_imports_at_top_level():
    """Run from the file before a module it imports, a module would have importlib load
    that one: the cost the file exists to spare."""
    for position, name in enumerate(boot.HOT):
        early = top_level_imports(name) - set(boot.HOT[:position])
        assert early == set(), "%s imports %s: list them before it in HOT" % (name, early)
    for position, name in enumerate(boot.SPOOL):   # loaded after HOT, by a direct write
        early = top_level_imports(name) - set(boot.HOT) - set(boot.SPOOL[:position])
        assert early == set(), "%s imports %s: list them before it in SPOOL" % (name, early)


def test_top_level_imports_skip_what_functions_import():
    assert top_level_imports("hookshim.record") == {
        "hookshim.outcome", "hookshim.call_event", "hookshim.fs"}   # spool: in _append
