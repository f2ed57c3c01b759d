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


def test_hook_path_does_not_load_json_re_or_subprocess(tmp_path):
    """A plain call (no bundle, no adopted scripts, no secrets) stays lean."""
    code = ("import sys, os; sys.path.insert(0, %r)\n"
            "d = %r; open(d + '/c', 'w').write('state_dir = ' + d + '\\n')\n"
            "r, w = os.pipe(); os.write(w, b'<domain><uuid>u</uuid></domain>'); os.close(w)\n"
            "from hookshim.hook import main\n"
            "rc = main(['g', 'prepare', 'begin', '-'], d + '/c', 'libxl', d, fds=(r, 1, 2))\n"
            "heavy = {'json', 're', 'subprocess', 'hashlib', 'urllib', 'sqlite3.dbapi2',"
            " 'functools'}\n"
            "print(rc, sorted(heavy & set(sys.modules)))\n" % (str(REPO), str(tmp_path)))
    out = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.split(None, 1) == ["0", "[]\n"]


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
