"""Facts (issue 17's core): what each guest held, read from its hook calls' XML (pure).

- ``model``: the Fact record, the safe parse, the key normalisers lookups share;
- ``extract``/``devices``: facts of a domain XML or a network hook's ``<hookData>``;
- ``drift``: what changed in a guest's definition between two boots;
- ``intervals``: when a guest held each fact, its boots stitched across migrations;
- ``collisions``: the same MAC on one network, or one writable disk, held twice at once;
- ``lookup``: what a user types -> the keys it matches.

docs/attribution.md describes the model.
"""
from app.facts.extract import extract_facts
from app.facts.model import Fact, FactsError

__all__ = ["Fact", "FactsError", "extract_facts"]
