"""The hook runs on the host's system Python: hookshim may import only the stdlib."""
import ast
import subprocess
import sys
from pathlib import Path

from tests.hookshim.helpers import REPO, SYSTEM_PYTHON

PACKAGE = REPO / "hookshim"


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_hookshim_imports_only_the_standard_library():
    # _sha2 is the stdlib's sha256 module from 3.12 on (wire.py tries _sha256 first)
    allowed = set(sys.stdlib_module_names) | {"hookshim", "_sha2", "_sha256"}
    offenders = sorted({(p.name, m) for p in PACKAGE.rglob("*.py") for m in imported_modules(p)
                        if m.split(".")[0] not in allowed})
    assert offenders == []


def test_spool_import_leaves_the_real_functools_importable(tmp_path):
    """spool.py imports _sqlite3 with a momentary functools stand-in (hook speed): the
    stand-in must be gone, sqlite's statement cache must work, functools must be real."""
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from hookshim.spool import Spool\n"
            "assert 'functools' not in sys.modules\n"
            "sp = Spool(%r)\n"
            "for i in range(500): sp._db.execute('SELECT %%d' %% (i %% 150)).fetchall()\n"
            "import functools\n"
            "assert functools.reduce(lambda a, b: a + b, [1, 2, 3]) == 6\n"
            "assert functools.partial and functools.wraps\n"
            "print(sp.stats()['last_seq'])\n" % (str(REPO), str(tmp_path / "s.db")))
    out = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", code], capture_output=True,
                         text=True)
    assert (out.returncode, out.stdout, out.stderr) == (0, "0\n", "")
