"""The facts store tests' fleet: guests (the project's template XML) booted on hosts through
the real ingest API, one hash chain per host; ``pass_`` runs the facts pass."""
from datetime import timedelta

from app.services.facts_pass import catch_up
from hookshim.event import GENESIS_HASH
from tests.factories import BASE_TIME, chain_of, post_events
from tests.facts.helpers import FIXTURES

TEMPLATE = (FIXTURES / "store-guest.xml").read_text().split("-->", 1)[1].strip()
GUESTS = {
    "web1": "11111111-1111-4111-8111-111111111111",
    "web2": "22222222-2222-4222-8222-222222222222",
    "db1": "33333333-3333-4333-8333-333333333333",
}


def guest_xml(name: str, mac: str = "52:54:00:00:00:01", network: str = "default",
              disk: str | None = None, memory_mib: int = 1024, vcpus: int = 2,
              vnc: int = 5901) -> str:
    return TEMPLATE.format(name=name, uuid=GUESTS[name], mac=mac, network=network,
                           disk=disk or f"/var/lib/libvirt/images/{name}.qcow2",
                           memory_mib=memory_mib, vcpus=vcpus, vnc=vnc)


def at(minutes: float):
    return BASE_TIME + timedelta(minutes=minutes)


class Fleet:
    """Posts hook calls per host, keeping each host's seq and chain."""

    def __init__(self, client, hosts: dict):
        self.client, self.hosts = client, hosts          # name -> HostCred
        self.heads = {h: (1, GENESIS_HASH) for h in hosts}
        self.ids: list[str] = []

    def calls(self, host: str, name: str, minute: float, ops, xml: str | None = None,
              extra: str = "-", outcome: str = "ok") -> list[dict]:
        """Hook calls ``ops`` of guest ``name`` on ``host``, one second apart from ``minute``."""
        seq, prev = self.heads[host]
        specs = [{"op": op, "subop": "end" if op in ("stopped", "release") else "begin",
                  "object": name, "domain_uuid": GUESTS[name], "driver": "qemu",
                  "extra": extra if op in ("release", "stopped") else "-",
                  "xml": xml, "outcome": outcome}
                 for op in ops]
        events = chain_of(host, specs, seq, prev, at(minute), timedelta(seconds=1))
        response = post_events(self.client, self.hosts[host], events)
        assert response.status_code == 200, response.text
        self.heads[host] = (seq + len(events), events[-1]["hash"])
        self.ids += [e["event_id"] for e in events]
        return events

    def boot(self, host, name, minute, xml):
        return self.calls(host, name, minute, ("prepare", "start", "started"), xml)

    def shutdown(self, host, name, minute, xml):
        return self.calls(host, name, minute, ("stopped", "release"), xml, extra="shutdown")

    def pass_(self, db):
        return catch_up(db)
