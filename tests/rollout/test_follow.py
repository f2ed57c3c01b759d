"""``hookaudit export --follow`` (alias ``hookaudit follow``): stored events as JSON lines, each
once, resuming from a cursor file."""
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


@pytest.fixture
def cli_main(settings, app, monkeypatch):
    from app import cli

    monkeypatch.setenv("HOOKAUDIT_DATABASE_URL", settings.database_url)
    return cli.main


@pytest.mark.parametrize("command", [["export", "--follow"], ["follow"]])
def test_export_follow_appends_json_lines_and_resumes_from_the_cursor_file(
        cli_main, client, host_a, tmp_path, command):
    chain = make_chain("host-a", 5)
    cursor, out = str(tmp_path / "siem.cursor"), tmp_path / "events.json"
    run = [*command, "--once", "--cursor-file", cursor, "-o", str(out)]
    assert post_events(client, host_a, chain[:3]).status_code == 200
    assert cli_main(run) == 0
    assert post_events(client, host_a, chain[3:]).status_code == 200
    assert cli_main(run) == 0   # a restart: only the cursor file carries over
    stored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["event_id"] for e in stored] == [e["event_id"] for e in chain]


def test_export_follow_writes_to_stdout_by_default(cli_main, client, host_a, capsys):
    assert post_events(client, host_a, make_chain("host-a", 2)).status_code == 200
    assert cli_main(["export", "--follow", "--once"]) == 0
    assert [json.loads(x)["seq"] for x in capsys.readouterr().out.splitlines()] == [1, 2]


@pytest.mark.parametrize("argv, message", [
    (["export", "--follow", "--since", "2026-01-01"], "--since only apply to an audit export"),
    (["export", "--follow", "--host", "a", "--sign-key", "k"], "--host, --sign-key only apply"),
    (["export", "--since", "2026-01-01", "-o", "x", "--once"], "--once only apply to export "
                                                                "--follow"),
    (["export", "-o", "x"], "export needs --since and -o/--output (or --follow)"),
    (["export", "--since", "2026-01-01"], "export needs --since and -o/--output"),
])
def test_export_refuses_options_of_the_other_mode(cli_main, tmp_path, monkeypatch, capsys,
                                                  argv, message):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert cli_main(argv) == 1
    assert message in capsys.readouterr().err
    assert list((tmp_path / "cwd").iterdir()) == []   # nothing written


@pytest.mark.parametrize("command", [["export", "--follow"], ["follow"]])
def test_follow_cli_refuses_a_cursor_file_it_did_not_write(cli_main, tmp_path, capsys, command):
    bad = tmp_path / "cursor"
    bad.write_text("yesterday\n")
    assert cli_main([*command, "--once", "--cursor-file", str(bad)]) == 1
    assert "not a cursor written by hookaudit export --follow" in capsys.readouterr().err
    assert bad.read_text() == "yesterday\n"   # left as it was
