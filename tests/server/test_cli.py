"""`hookaudit` commands, run in-process against a migrated database."""
import io
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.cli import main
from app.migrate import upgrade
from tests.factories import make_chain, post_events
from tests.fixtures_app import HostCred


@pytest.fixture
def cli(db_url, capsys, monkeypatch):
    upgrade(db_url)

    def run(*argv, stdin=None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["--database-url", db_url, *argv])
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


@pytest.fixture
def served(make_app):
    with TestClient(make_app()) as c:
        yield c


def test_hosts_add_prints_a_token_that_ingests(cli, served):
    code, out, _ = cli("hosts", "add", "dom0-1")
    assert code == 0
    host = HostCred("dom0-1", out.strip())
    assert post_events(served, host, make_chain("dom0-1", 2)).status_code == 200
    code, out, _ = cli("hosts", "list", "--json")
    assert json.loads(out)[0]["last_seq"] == 2


def test_hosts_add_twice_fails_and_revoke_stops_the_token(cli, served):
    _, out, _ = cli("hosts", "add", "dom0-1")
    assert cli("hosts", "add", "dom0-1")[0] == 1
    assert cli("hosts", "revoke", "dom0-1")[0] == 0
    r = post_events(served, HostCred("dom0-1", out.strip()), make_chain("dom0-1", 1))
    assert r.status_code == 401


def test_users_add_and_tokens_create_give_api_access(cli, served):
    assert cli("users", "add", "ana", "--role", "viewer", "--password-stdin",
               stdin="s3cret passphrase\n")[0] == 0
    _, token, _ = cli("tokens", "create", "--user", "ana")
    r = served.get("/api/v1/hosts", headers={"Authorization": f"Bearer {token.strip()}"})
    assert r.status_code == 200


def test_users_add_refuses_a_short_password_like_the_admin_page(cli):
    code, _, err = cli("users", "add", "ana", "--password-stdin", stdin="short pass\n")
    assert code == 1 and "at least 12 characters" in err
    assert cli("tokens", "create", "--user", "ana")[0] == 1   # nobody was added


@pytest.mark.parametrize("name", ["   ", "h" * 256])
def test_hosts_add_refuses_a_name_the_admin_page_refuses(cli, name):
    code, out, err = cli("hosts", "add", name)
    assert code == 1 and out == "" and "1 to 255 characters" in err


def test_hosts_add_stores_the_name_without_surrounding_blanks(cli):
    assert cli("hosts", "add", " dom0-1 ")[0] == 0
    _, out, _ = cli("hosts", "list", "--json")
    assert [h["name"] for h in json.loads(out)] == ["dom0-1"]


def test_events_query_prints_filtered_ndjson(cli, served):
    _, token, _ = cli("hosts", "add", "dom0-1")
    post_events(served, HostCred("dom0-1", token.strip()), make_chain("dom0-1", 5))
    code, out, _ = cli("events", "query", "--op", "start", "--op", "started")
    assert code == 0
    assert sorted(json.loads(line)["op"] for line in out.splitlines()) == ["start", "started"]


def test_events_query_takes_relative_times_like_the_api(cli, served):
    _, token, _ = cli("hosts", "add", "dom0-1")
    post_events(served, HostCred("dom0-1", token.strip()), make_chain("dom0-1", 3))  # 2026-11-25
    assert cli("events", "query", "--since=-1h")[1] == ""
    code, out, _ = cli("events", "query", "--until=now", "--since", "2026-11-25")
    assert code == 0 and len(out.splitlines()) == 3
    assert cli("events", "query", "--since=last-week")[0] == 1


def test_events_query_refuses_bad_filters(cli):
    assert cli("events", "query", "--outcome", "exploded")[0] == 1


def test_verify_passes_an_intact_chain_and_names_the_first_tampered_event(cli, served, db_url):
    _, token, _ = cli("hosts", "add", "dom0-1")
    events = make_chain("dom0-1", 4)
    post_events(served, HostCred("dom0-1", token.strip()), events)
    code, out, _ = cli("verify")
    assert code == 0 and "dom0-1: ok (4 events)" in out
    engine = create_engine(db_url)
    with engine.begin() as conn:   # someone edits the database behind the app's back
        conn.execute(text("UPDATE events SET outcome = 'ok', op = 'stopped' WHERE seq >= 3"))
    engine.dispose()
    code, out, _ = cli("verify")
    assert code == 2
    assert f"first bad: seq 3 event {events[2]['event_id']}" in out
