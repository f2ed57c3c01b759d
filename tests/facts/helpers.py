"""Shared by the facts tests: the project's own XML fixtures, and facts as plain tuples."""
from pathlib import Path

from app.facts import extract_facts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facts"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def keys(xml: str, kind: str | None = None) -> list[tuple[str, str]]:
    """(kind, key) of every fact, in document order (one kind only when given)."""
    return [(f.kind, f.key) for f in extract_facts(xml) if kind in (None, f.kind)]


def fact(xml: str, kind: str, key: str):
    """The one fact of this kind and key (AssertionError if absent)."""
    found = [f for f in extract_facts(xml) if (f.kind, f.key) == (kind, key)]
    assert len(found) == 1, (kind, key, keys(xml))
    return found[0]
