"""`verify` checks every value the API or dashboard shows for an event against its hashed
canonical form, names the edited event, and raises no false alarm on what ingest accepted."""
import pytest

from app.services.verify import SHOWN_COLUMNS, verify_all
from tests.factories import make_chain, post_events
from tests.integrity.helpers import full_chain, sql

# One edit per shown column of event seq 2 (each made behind the app's back).
COLUMN_EDITS = [
    ("object", "UPDATE events SET object = 'other-guest' WHERE seq = 2"),
    ("reason", "UPDATE events SET reason = 'nothing to see' WHERE seq = 2"),
    ("reason", "UPDATE events SET reason = NULL WHERE seq = 2"),
    ("stderr", "UPDATE events SET stderr = '' WHERE seq = 2"),
    ("domain_uuid",
     "UPDATE events SET domain_uuid = '00000000-0000-0000-0000-000000000000' WHERE seq = 2"),
    ("policy", "UPDATE events SET policy = NULL WHERE seq = 2"),
    ("scripts", "UPDATE events SET scripts = '[]' WHERE seq = 2"),
    ("duration_ms", "UPDATE events SET duration_ms = 0.5 WHERE seq = 2"),
    ("kind", "UPDATE events SET kind = 'overflow' WHERE seq = 2"),
    ("xml_truncated", "UPDATE events SET xml_truncated = TRUE WHERE seq = 2"),
    ("redactions", "UPDATE events SET redactions = 0 WHERE seq = 2"),
    ("warnings", "UPDATE events SET warnings = '[]' WHERE seq = 2"),
    ("policy_bundle_version", "UPDATE events SET policy_bundle_version = 'b-8' WHERE seq = 2"),
    ("dropped", "UPDATE events SET dropped = 5 WHERE seq = 2"),
    ("shim_version", "UPDATE events SET shim_version = '9.9' WHERE seq = 2"),
    ("shim_hostname", "UPDATE events SET shim_hostname = 'elsewhere' WHERE seq = 2"),
    ("shim_pid", "UPDATE events SET shim_pid = 1 WHERE seq = 2"),
    ("outcome", "UPDATE events SET outcome = 'ok', exit_code = 0 WHERE seq = 2"),
    ("started_at", "UPDATE events SET started_at = '2020-01-01 00:00:00' WHERE seq = 2"),
    ("v", "UPDATE events SET v = 2 WHERE seq = 2"),
    ("host_started_at", "UPDATE events SET host_started_at = '2020-01-01 00:00:00' WHERE seq = 2"),
]


@pytest.fixture
def stored(app, client, host_a):
    events = full_chain("host-a", 3)
    assert post_events(client, host_a, events).json()["chain_problems"] == []
    assert verify_all(app.state.db)[0]["ok"]
    return events


def _bad(app) -> dict:
    [result] = verify_all(app.state.db)
    assert not result["ok"]
    return result


@pytest.mark.parametrize(("column", "edit"), COLUMN_EDITS, ids=[c for c, _ in COLUMN_EDITS])
def test_editing_a_shown_column_is_reported_on_that_event(app, stored, column, edit):
    sql(app.state.db, edit)
    result = _bad(app)
    assert [b["seq"] for b in result["bad"]] == [2]
    assert result["first_bad"]["event_id"] == stored[1]["event_id"]
    assert f"column {column} differs from the canonical form" in result["first_bad"]["problems"]


def test_every_shown_column_has_an_edit_in_the_table():
    edited = {c for c, _ in COLUMN_EDITS}
    untested = set(SHOWN_COLUMNS) - edited - {"event_id", "seq", "prev_hash", "driver", "op",
                                              "subop", "extra", "exit_code"}
    assert untested == set()


def test_a_decision_turned_from_deny_to_allow_is_reported(app, stored):
    sql(app.state.db, "UPDATE policy_decisions SET verdict = 'allow' WHERE verdict = 'deny'"
                      " AND event_id = (SELECT id FROM events WHERE seq = 3)")
    result = _bad(app)
    assert result["first_bad"]["event_id"] == stored[2]["event_id"]
    assert result["first_bad"]["problems"] == [(
        "policy_decisions row for rule 'no-vnc-listen-any': verdict is 'allow', "
        "the canonical form says 'deny'")]


def test_a_deleted_decision_is_reported(app, stored):
    sql(app.state.db, "DELETE FROM policy_decisions WHERE rule_id = 'tag-owner'"
                      " AND event_id = (SELECT id FROM events WHERE seq = 1)")
    result = _bad(app)
    assert result["first_bad"]["event_id"] == stored[0]["event_id"]
    assert "policy_decisions: 1 row(s) stored, 2 in the canonical form" in \
        result["first_bad"]["problems"]


def test_an_event_moved_to_another_host_is_reported(app, stored, host_b):
    sql(app.state.db, "UPDATE events SET host_id = (SELECT id FROM hosts WHERE name = 'host-b')"
                      " WHERE seq = 3")
    results = {r["host"]: r for r in verify_all(app.state.db)}
    assert "stored under host 'host-b', canonical form says 'host-a'" in \
        results["host-b"]["first_bad"]["problems"]


def test_every_bad_event_is_named_not_only_the_first(app, stored):
    sql(app.state.db, "UPDATE events SET reason = 'x' WHERE seq IN (1, 3)")
    assert [b["event_id"] for b in _bad(app)["bad"]] == [stored[0]["event_id"],
                                                         stored[2]["event_id"]]


def test_nul_in_op_subop_and_free_text_is_no_false_alarm(app, client, host_a):
    nul = "\x00"
    events = full_chain("host-a", 2, op=f"pre{nul}pare", subop=f"be{nul}gin",
                        stderr=f"a{nul}b", object=f"g{nul}1",
                        policy={"bundle_version": f"b{nul}", "decisions": [
                            {"rule_id": f"r{nul}", "mode": "enforce", "verdict": "deny",
                             "message": nul, "error": None}]})
    assert post_events(client, host_a, events).json()["chain_problems"] == []
    assert verify_all(app.state.db)[0]["ok"]


def test_upper_case_domain_uuid_is_no_false_alarm(app, client, host_a):
    events = make_chain("host-a", 2, domain_uuid="6C0A1E44-9A4C-4A57-9C1C-1F0C2F7D1A01")
    assert post_events(client, host_a, events).status_code == 200
    assert verify_all(app.state.db)[0]["ok"]


def test_first_bad_is_the_edited_event_after_harmless_ones(app, client, host_a):
    """A NUL early in the chain used to be a false alarm that hid the real edit."""
    events = make_chain("host-a", 4, op="pre\x00pare")
    post_events(client, host_a, events)
    sql(app.state.db, "UPDATE events SET object = 'x' WHERE seq = 4")
    assert _bad(app)["first_bad"]["event_id"] == events[3]["event_id"]
