"""The demo's guests are made from a few templates: each must have its own MACs, or the facts
pass would show every pair of them as a duplicate MAC."""
from collections import Counter

from app.demo.corpus import builtin_templates
from app.demo.fleet import build_fleet
from app.facts import extract_facts


def test_demo_guests_made_from_one_template_have_their_own_macs():
    fleet = build_fleet(7, 6, 60, builtin_templates())
    assert len({g.template for g in fleet.guests}) < len(fleet.guests)   # templates are shared
    macs = Counter(f.key for g in fleet.guests for f in extract_facts(g.xml) if f.kind == "mac")
    assert macs and max(macs.values()) == 1
