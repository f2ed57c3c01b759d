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
            "heavy = {'json', 're', 'subprocess', 'hashlib', 'urllib', 'sqlite3.dbapi2'}\n"
            "print(rc, sorted(heavy & set(sys.modules)))\n" % (str(REPO), str(tmp_path)))
    out = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.split(None, 1) == ["0", "[]\n"]
