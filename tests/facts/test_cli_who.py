"""`hookaudit who` and `hookaudit facts catch-up`, in-process, on a store filled by ingest."""
import json

import pytest

from app.cli import main
from tests.facts.store import GUESTS, Fleet, guest_xml

MAC = "52:54:00:ab:cd:ef"


@pytest.fixture
def app(make_app):
    return make_app(facts_pass_interval_s=0)


@pytest.fixture
def run(db_url, capsys):
    def run(*argv):
        code = main(["--database-url", db_url, *argv])
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


@pytest.fixture
def booted(client, host_a):
    fleet = Fleet(client, {"host-a": host_a})
    fleet.boot("host-a", "web1", 0, guest_xml("web1", mac=MAC))
    return fleet


def test_catch_up_then_who_prints_the_guest_host_and_interval(booted, run):
    code, out, _ = run("facts", "catch-up")
    assert code == 0 and "1 guest(s) recomputed" in out
    code, out, _ = run("who", "--mac", "52-54-00-AB-CD-EF", "--at", "2026-11-25T12:03:00Z")
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["web1", GUESTS["web1"], "on", "host-a"]


def test_who_json_is_the_api_answer(booted, run, viewer):
    run("facts", "catch-up")
    _, out, _ = run("who", "--mac", MAC, "--at", "2026-11-25T12:03:00Z", "--format", "json")
    api = viewer.client.get("/api/v1/attribution",
                            params={"mac": MAC, "at": "2026-11-25T12:03:00Z"}).json()
    assert json.loads(out) == api


def test_who_before_the_boot_finds_nobody_and_says_so(booted, run):
    run("facts", "catch-up")
    code, out, _ = run("who", "--mac", MAC, "--at", "2026-11-25T11:00:00Z")
    assert code == 3 and out.startswith("no guest held mac")


def test_who_refuses_a_port_without_host(run):
    code, _, err = run("who", "--port", "5901")
    assert code == 1 and "port needs host" in err
