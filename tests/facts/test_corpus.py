"""Extra coverage when libvirt's own test XML is at hand (tests/conftest.py corpus helpers):
extraction and normalisation never raise on libvirt's own documents."""
from app.facts import extract_facts
from app.facts.drift import definition_drift
from app.facts.model import parse_xml


def test_every_corpus_document_yields_facts_without_error(corpus_files):
    for path in corpus_files:
        facts = extract_facts(path.read_text())
        assert all(f.key for f in facts), path


def test_every_corpus_domain_normalises_with_no_drift_against_itself(corpus_files):
    for path in corpus_files:
        text = path.read_text()
        if parse_xml(text).tag == "domain":
            assert definition_drift(text, text).changes == (), path
