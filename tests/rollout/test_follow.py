"""``hookaudit follow``: stored events as JSON lines, each once, resuming from a cursor file."""
import io
import json
from datetime import timedelta

import pytest

from app.services.follow import deliverable, follow
from tests.factories import BASE_TIME, make_chain, post_events


@pytest.mark.parametrize("cursor, ids, seen, now, expected", [
    (0, [1, 2, 3], {}, 100.0, 3),        # contiguous: all of them
    (5, [], {}, 100.0, 0),               # nothing new
    (0, [1, 3], {}, 100.0, 1),           # gap just seen: stop before it (2 may yet commit)
    (0, [1, 3], {3: 95.0}, 100.0, 1),    # gap open 5 s < 10 s grace: still waiting
    (0, [1, 3], {3: 89.0}, 100.0, 2),    # gap open 11 s: a rolled-back id, pass it
    (2, [4, 5, 7], {4: 0.0}, 100.0, 2),  # old gap passed, new gap at 7 waits
])
def test_deliverable_waits_for_young_gaps_in_ids_only(cursor, ids, seen, now, expected):
    assert deliverable(cursor, ids, dict(seen), now) == expected


def test_deliverable_remembers_when_it_first_saw_a_gap():
    seen = {}
    deliverable(0, [1, 3], seen, 50.0)
    assert seen == {3: 50.0}


def lines(out):
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_follow_resumes_after_a_restart_from_the_cursor_file(app, client, host_a, tmp_path):
    chain = make_chain("host-a", 5)
    assert post_events(client, host_a, chain[:3]).status_code == 200
    cursor = str(tmp_path / "siem.cursor")
    first = io.StringIO()
    follow(app.state.db, first, cursor, once=True)
    assert [e["seq"] for e in lines(first)] == [1, 2, 3]
    assert post_events(client, host_a, chain[3:]).status_code == 200
    second = io.StringIO()   # a new process: only the cursor file carries over
    follow(app.state.db, second, cursor, once=True)
    assert [e["seq"] for e in lines(second)] == [4, 5]
    assert {e["event_id"] for e in lines(second)} == {e["event_id"] for e in chain[3:]}


def test_follow_passes_events_stored_late_with_old_start_times(app, client, host_a, host_b,
                                                               tmp_path):
    cursor = str(tmp_path / "c")
    assert post_events(client, host_a, make_chain("host-a", 2)).status_code == 200
    follow(app.state.db, io.StringIO(), cursor, once=True)
    late = make_chain("host-b", 2, start=BASE_TIME - timedelta(days=1))   # back from an outage
    assert post_events(client, host_b, late).status_code == 200
    out = io.StringIO()
    follow(app.state.db, out, cursor, once=True)
    assert [(e["host"], e["seq"]) for e in lines(out)] == [("host-b", 1), ("host-b", 2)]


def test_follow_lines_are_flat_json_objects_a_shipper_reads_as_is(app, client, host_a):
    assert post_events(client, host_a, make_chain("host-a", 1)).status_code == 200
    out = io.StringIO()
    follow(app.state.db, out, None, once=True)
    (event,) = lines(out)
    assert {"event_id", "host", "seq", "driver", "op", "outcome", "started_at"} <= set(event)
    assert out.getvalue().count("\n") == 1


def test_follow_cli_refuses_a_cursor_file_it_did_not_write(settings, app, tmp_path,
                                                           monkeypatch, capsys):
    from app import cli

    monkeypatch.setenv("HOOKAUDIT_DATABASE_URL", settings.database_url)
    bad = tmp_path / "cursor"
    bad.write_text("yesterday\n")
    assert cli.main(["follow", "--once", "--cursor-file", str(bad)]) == 1
    assert "not a cursor written by hookaudit follow" in capsys.readouterr().err
    assert bad.read_text() == "yesterday\n"   # left as it was
