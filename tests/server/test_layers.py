"""The layers of docs/architecture.md, enforced: services know nothing of HTTP, every table is
declared in app/models.py, and no module of app/ or hookshim/ imports itself back through
others."""
import ast
import json
import pkgutil
import subprocess
import sys
from functools import cache
from importlib import import_module

import pytest

import app
from tests.conftest import REPO

HTTP_PACKAGES = ("fastapi", "starlette")
# The layers below the routes: plain data in, plain data (or a domain error) out.
HTTP_FREE = ("app.services", "app.policy", "app.alerts", "app.models", "app.db", "app.timeutil",
             "app.schemas_query")


def _modules(package: str) -> dict[str, ast.Module]:
    return _parsed(REPO, package)


@cache
def _parsed(repo, package: str) -> dict[str, ast.Module]:
    """Every module under ``package``'s directory, by dotted name, parsed."""
    out = {}
    for path in sorted((repo / package).rglob("*.py")):
        parts = list(path.relative_to(repo).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return out


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules ``name`` imports (at any depth: a lazy import is still an import)."""
    is_package = name in {m.rsplit(".", 1)[0] for m in known if "." in m} or "." not in name
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    return out


def _cycles(package: str) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    trees = _modules(package)
    known = set(trees)
    graph = {m: sorted(_imports(m, t, known) & known - {m}) for m, t in trees.items()}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles_in_app():
    assert _cycles("app") == []


def test_no_import_cycles_in_hookshim():
    """Lazy imports count too: hook -> record -> call_event -> event, never back."""
    assert _cycles("hookshim") == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "loop"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from loop import b\n")
    (pkg / "b.py").write_text("def f():\n    from loop.a import x\n")
    (pkg / "c.py").write_text("import loop.a\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert _cycles("loop") == [["loop.a", "loop.b"]]


@pytest.mark.parametrize("name", sorted(m for m in _modules("app") if m.startswith(HTTP_FREE)))
def test_services_import_nothing_from_the_web_framework(name):
    tree = _modules("app")[name]
    found = {m for m in _imports(name, tree, set()) if m.split(".")[0] in HTTP_PACKAGES}
    assert found == set(), f"{name} imports {sorted(found)}: raise a domain error instead"


def _every_app_module() -> None:
    for info in pkgutil.walk_packages(app.__path__, "app."):
        if not info.name.endswith(".__main__"):   # that one runs the CLI
            import_module(info.name)


def test_every_table_and_index_is_declared_in_models():
    """Importing every module of app/ adds no table or index to what app/models.py declares
    alone (that is all migrations/env.py imports)."""
    script = ("import json; from app.models import Base; print(json.dumps({n: sorted(i.name "
              "for i in t.indexes) for n, t in Base.metadata.tables.items()}))")
    alone = json.loads(subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True,
                                      capture_output=True, text=True).stdout)
    _every_app_module()
    from app.models import Base

    everything = {n: sorted(i.name for i in t.indexes) for n, t in Base.metadata.tables.items()}
    assert everything == alone
