"""Network hook calls in the facts store (both databases): a port's MAC is attributed to the
guest that owns it (port-created -> port-deleted), a network's DHCP host entries answer IP
lookups while it runs, and host-local networks (NAT, routed, isolated, or named by the
operator) make a MAC collide only within one host. The XML follows libvirt's formatters
(src/conf/virnetworkportdef.c virNetworkPortDefFormatBuf, src/network/bridge_driver.c
networkRunHook: the network first, then the port)."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.cli import main
from app.facts.collisions import Segments
from app.models import FactConflict
from app.services.facts_pass import catch_up
from tests.factories import chain_of, post_events
from tests.facts.store import GUESTS, Fleet, at, guest_xml

MAC = "52:54:00:ab:cd:ef"
OWNER = ("web-09", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0")   # never seen by a domain hook
NETWORK_UUIDS = {("host-a", "default"): "c2a8b5e1-0f3d-4e7a-9b6c-5d4e3f2a1b0c",
                 ("host-b", "default"): "0b7e7f2a-3c1d-4e5f-8a9b-1c2d3e4f5a6b",
                 ("host-a", "prod"): "8c1b6f5e-4d3a-4b29-a18f-7e6d5c4b3a20",
                 ("host-b", "prod"): "8c1b6f5e-4d3a-4b29-a18f-7e6d5c4b3a20"}
FORWARD = {"default": "<forward mode='nat'><nat><port start='1024' end='65535'/></nat>"
                      "</forward><bridge name='virbr0' stp='on' delay='0'/>",
           "prod": "<forward mode='bridge'/><bridge name='br-prod'/>"}


def network_xml(host: str, name: str, dhcp: dict | None = None, port: tuple | None = None,
                forward: str | None = None) -> str:
    hosts = "".join(f"<host mac='{m}' name='h{i}' ip='{ip}'/>"
                    for i, (m, ip) in enumerate((dhcp or {}).items()))
    ip = (f"<ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>"
          f"<range start='192.168.122.100' end='192.168.122.254'/>{hosts}</dhcp></ip>"
          if dhcp is not None else "")
    xml = (f"<hookData>\n  <network>\n    <name>{name}</name>\n"
           f"    <uuid>{NETWORK_UUIDS[host, name]}</uuid>\n    "
           f"{FORWARD[name] if forward is None else forward}\n    {ip}\n  </network>\n")
    if port:
        (owner, owner_uuid), mac = port
        plug = "<plug type='network' bridge='virbr0' macTableManager='libvirt'/>" \
            if name == "default" else "<plug type='bridge' bridge='br-prod'/>"
        xml += (f"  <networkport>\n    <uuid>0d3c2ba4-5e8f-4c4f-9f0a-3f4b6a1d2c10</uuid>\n"
                f"    <owner>\n      <name>{owner}</name>\n      <uuid>{owner_uuid}</uuid>\n"
                f"    </owner>\n    <mac address='{mac}'/>\n    {plug}\n  </networkport>\n")
    return xml + "</hookData>"


class NetFleet(Fleet):
    def network(self, host: str, name: str, minute: float, ops, xml: str,
                outcome: str = "ok") -> list[dict]:
        """Network hook calls (driver network, the network's UUID, as the shim records them)."""
        seq, prev = self.heads[host]
        specs = [{"op": op, "subop": "end" if op == "stopped" else "begin", "object": name,
                  "domain_uuid": NETWORK_UUIDS[host, name], "driver": "network",
                  "xml": xml, "outcome": outcome} for op in ops]
        events = chain_of(host, specs, seq, prev, at(minute), timedelta(seconds=1))
        response = post_events(self.client, self.hosts[host], events)
        assert response.status_code == 200, response.text
        self.heads[host] = (seq + len(events), events[-1]["hash"])
        return events


@pytest.fixture
def app(make_app):
    return make_app(facts_pass_interval_s=0)


@pytest.fixture
def fleet(client, host_a, host_b):
    return NetFleet(client, {"host-a": host_a, "host-b": host_b})


def who(viewer, when: str, **query):
    r = viewer.client.get("/api/v1/attribution", params={**query, "at": when})
    assert r.status_code == 200, r.text
    return [(h["guest"], h["name"], h["hosts"], h["end"]) for h in r.json()["holders"]]


def test_a_mac_seen_only_through_the_network_hook_belongs_to_the_ports_owner(
        app, fleet, viewer, db_url, capsys):
    fleet.network("host-a", "prod", 0, ("start", "started"), network_xml("host-a", "prod"))
    created = fleet.network("host-a", "prod", 1, ("port-created",),
                            network_xml("host-a", "prod", port=(OWNER, MAC.upper())))
    deleted = fleet.network("host-a", "prod", 5, ("port-deleted",),
                            network_xml("host-a", "prod", port=(OWNER, MAC)))
    catch_up(app.state.db)
    assert who(viewer, "2026-11-25T12:03:00Z", mac=MAC) == [
        (OWNER[1], "web-09", ["host-a"], "2026-11-25T12:05:00.000000Z")]
    assert who(viewer, "2026-11-25T12:06:00Z", mac=MAC) == []
    [holder] = viewer.client.get("/api/v1/attribution", params={"mac": MAC}).json()["holders"]
    assert holder["event_ids"] == [created[0]["event_id"], deleted[0]["event_id"]]
    assert holder["attrs"]["network"] == "prod" and holder["attrs"]["scope"] == "network:prod"
    # and `hookaudit who` answers the same
    code = main(["--database-url", db_url, "who", "--mac", MAC, "--at", "2026-11-25T12:03:00Z"])
    out = capsys.readouterr().out
    assert code == 0 and out.split()[:4] == ["web-09", OWNER[1], "on", "host-a"]


def test_a_port_ends_with_its_network_and_a_refused_port_never_was(app, fleet, viewer):
    fleet.network("host-a", "prod", 0, ("start", "started"), network_xml("host-a", "prod"))
    fleet.network("host-a", "prod", 1, ("port-created",),
                  network_xml("host-a", "prod", port=(OWNER, MAC)))
    fleet.network("host-a", "prod", 2, ("port-created",),
                  network_xml("host-a", "prod", port=(("db-01", GUESTS["db1"]),
                                                      "52:54:00:00:00:99")), outcome="aborted")
    fleet.network("host-a", "prod", 8, ("stopped",), network_xml("host-a", "prod"))
    catch_up(app.state.db)
    assert who(viewer, "2026-11-25T12:07:00Z", mac=MAC) == [
        (OWNER[1], "web-09", ["host-a"], "2026-11-25T12:08:00.000000Z")]
    assert viewer.client.get("/api/v1/attribution", params={
        "mac": "52:54:00:00:00:99"}).json()["holders"] == []


def test_dhcp_host_entries_answer_ip_lookups_while_the_network_runs(app, fleet, viewer):
    dhcp = {"52:54:00:3c:9e:11": "192.168.122.11", MAC: "192.168.122.12"}
    fleet.network("host-a", "default", 0, ("start", "started"),
                  network_xml("host-a", "default", dhcp))
    # net-update removes one entry at minute 4; the network stops at minute 9
    fleet.network("host-a", "default", 4, ("updated",),
                  network_xml("host-a", "default", {MAC: "192.168.122.12"}))
    fleet.network("host-a", "default", 9, ("stopped",), network_xml("host-a", "default", {}))
    catch_up(app.state.db)
    network = NETWORK_UUIDS["host-a", "default"]
    assert who(viewer, "2026-11-25T12:02:00Z", ip="192.168.122.11") == [
        (network, "default", ["host-a"], "2026-11-25T12:04:00.000000Z")]
    assert who(viewer, "2026-11-25T12:05:00Z", ip="192.168.122.11") == []
    assert who(viewer, "2026-11-25T12:05:00Z", ip="192.168.122.12") == [
        (network, "default", ["host-a"], "2026-11-25T12:09:00.000000Z")]
    assert who(viewer, "2026-11-25T12:10:00Z", ip="192.168.122.12") == []
    r = viewer.client.get("/api/v1/attribution", params={"ip": "192.168.122.12"}).json()
    assert r["holders"][0]["attrs"]["mac"] == MAC and r["holders"][0]["attrs"]["name"] == "h0"


def conflicts(app):
    with app.state.db.session() as s:
        return sorted((c.kind, c.key, c.scope, tuple(c.hosts))
                      for c in s.scalars(select(FactConflict)))


def boot_both(fleet, network: str, same_host: bool = False):
    fleet.boot("host-a", "web1", 0, guest_xml("web1", mac=MAC, network=network))
    fleet.boot("host-a" if same_host else "host-b", "web2", 2,
               guest_xml("web2", mac=MAC, network=network, vnc=5902))


def test_two_hosts_private_nat_networks_are_not_one_segment(app, fleet):
    for host in ("host-a", "host-b"):
        fleet.network(host, "default", 0, ("start", "started"), network_xml(host, "default"))
    boot_both(fleet, "default")
    catch_up(app.state.db)
    assert conflicts(app) == []


def test_the_same_mac_twice_on_one_hosts_nat_network_is_a_conflict(app, fleet):
    fleet.network("host-a", "default", 0, ("start", "started"), network_xml("host-a", "default"))
    boot_both(fleet, "default", same_host=True)
    catch_up(app.state.db)
    assert conflicts(app) == [("mac", MAC, "network:default@host-a", ("host-a",))]


@pytest.mark.parametrize("forward", ["<forward mode='route'/>", "<forward mode='open'/>", ""])
def test_routed_open_and_isolated_networks_are_host_local(app, fleet, forward):
    for host in ("host-a", "host-b"):
        fleet.network(host, "default", 0, ("start",),
                      network_xml(host, "default", forward=forward))
    boot_both(fleet, "default")
    catch_up(app.state.db)
    assert conflicts(app) == []


def test_a_bridged_network_is_shared_across_hosts(app, fleet):
    for host in ("host-a", "host-b"):
        fleet.network(host, "prod", 0, ("start", "started"), network_xml(host, "prod"))
    boot_both(fleet, "prod")
    catch_up(app.state.db)
    assert conflicts(app) == [("mac", MAC, "network:prod", ("host-a", "host-b"))]


def test_a_network_never_seen_is_shared(app, fleet):
    boot_both(fleet, "default")
    catch_up(app.state.db)
    assert conflicts(app) == [("mac", MAC, "network:default", ("host-a", "host-b"))]


def test_the_operator_can_call_a_network_host_local(app, fleet):
    boot_both(fleet, "default")
    catch_up(app.state.db, segments=Segments.parse(host_local="default"))
    assert conflicts(app) == []


def test_the_operator_can_call_a_nat_network_shared(app, fleet):
    for host in ("host-a", "host-b"):
        fleet.network(host, "default", 0, ("start", "started"), network_xml(host, "default"))
    boot_both(fleet, "default")
    catch_up(app.state.db, segments=Segments.parse(shared="network:default"))
    assert conflicts(app) == [("mac", MAC, "network:default", ("host-a", "host-b"))]


def test_a_network_xml_arriving_later_removes_the_false_conflict(app, fleet):
    boot_both(fleet, "default")
    catch_up(app.state.db)
    assert conflicts(app) == [("mac", MAC, "network:default", ("host-a", "host-b"))]
    for host in ("host-a", "host-b"):     # a late forwarder backlog: the networks' start
        fleet.network(host, "default", -5, ("start", "started"), network_xml(host, "default"))
    catch_up(app.state.db)
    assert conflicts(app) == []


def test_recheck_conflicts_applies_changed_settings(app, fleet, db_url, capsys, monkeypatch):
    boot_both(fleet, "default")
    catch_up(app.state.db)
    assert conflicts(app) == [("mac", MAC, "network:default", ("host-a", "host-b"))]
    monkeypatch.setenv("HOOKAUDIT_FACTS_HOST_LOCAL_NETWORKS", "default")
    code = main(["--database-url", db_url, "facts", "catch-up", "--recheck-conflicts"])
    assert code == 0 and "conflicts re-derived" in capsys.readouterr().out
    assert conflicts(app) == []
