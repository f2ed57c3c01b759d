"""Every XML set (tests/conftest.py: the project's own fixtures, plus libvirt's own test XML when
a corpus is at hand): extraction and normalisation never raise."""
from app.facts import extract_facts
from app.facts.drift import definition_drift
from app.facts.model import parse_xml


def test_every_corpus_document_yields_facts_without_error(xml_files):
    for path in xml_files:
        facts = extract_facts(path.read_text())
        assert all(f.key for f in facts), path


def test_every_corpus_domain_normalises_with_no_drift_against_itself(xml_files):
    for path in xml_files:
        text = path.read_text()
        if parse_xml(text).tag == "domain":
            assert definition_drift(text, text).changes == (), path
