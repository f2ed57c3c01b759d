"""Pure guest state machine: where a guest is and what it is doing, from its hook events."""

# (op, outcome ok?) -> state. Ops as libvirt passes them (docs/libvirt-hooks.md).
STATES = {
    ("prepare", True): "starting",
    ("prepare", False): "start_failed",
    ("start", True): "starting",
    ("start", False): "start_failed",
    ("started", True): "running",
    ("started", False): "killed",          # started failing destroys the guest (libvirt 9.0+)
    ("migrate", True): "migrating_in",
    ("restore", True): "restoring",
    ("restore", False): "start_failed",
    ("reconnect", True): "running",
    ("reconnect", False): "killed",        # a failing reconnect kills the running guest
    ("attach", True): "running",
    ("stopped", True): "stopping",
    ("stopped", False): "stopping",        # failures of stopped/release are ignored by libvirt
    ("release", True): "stopped",
    ("release", False): "stopped",
    ("port-created", True): "running",
    ("port-deleted", True): "stopping",
}
# Network objects use start/started/stopped for the network itself.
NETWORK_STATES = {"start": "starting", "started": "active", "stopped": "inactive"}
ACTIVE = frozenset({"starting", "running", "migrating_in", "restoring", "stopping"})
ARRIVALS = frozenset({"prepare", "start", "started", "migrate", "restore", "reconnect"})


# A running guest whose started/reconnect answer made libvirt drop it from its management
# without destroying it (libxl: reconnect since 9.0, started in 2.2.0; hookshim/outcome.py
# records that as "aborted"): the hypervisor still runs it, libvirt no longer knows it.
UNMANAGED = "unmanaged"
WAS_RUNNING = frozenset({"started", "reconnect"})


def went_on(outcome: str, exit_code: int | None) -> bool:
    """Did libvirt carry on after this call? ``failed_ignored``: it logged the failure and
    went on; ``timed_out``: the shim killed a script and answered ``exit_code`` (0 where a
    refusal would have harmed a running guest: the guard rail)."""
    if outcome in ("ok", "failed_ignored"):
        return True
    return outcome == "timed_out" and exit_code == 0


def next_state(driver: str, op: str, outcome: str, exit_code: int | None = None) -> str | None:
    """The state after one event, or None when the event says nothing about the state."""
    ok = went_on(outcome, exit_code)
    if driver == "network":
        return NETWORK_STATES.get(op) if ok else None
    if outcome == "aborted" and op in WAS_RUNNING:
        return UNMANAGED
    return STATES.get((op, ok))


def apply_event(guest: dict | None, ev: dict) -> dict:
    """Return the guest row after event ``ev`` (dict with host, op, outcome, started_at ...).

    Events older than the guest's last event do not move it. An event from another host than
    the current one moves the guest only when the guest is not active (released, stopped:
    a cold move) or when it arrives there by migration (``migrate``, then prepare, start,
    started there): so the source's stopped/release after a migration does not pull a guest
    back from its destination. Any other arrival from another host while the guest is active
    on its current host is a host conflict (``conflicts``): recorded, never obeyed.
    """
    ok = went_on(ev["outcome"], ev.get("exit_code"))
    if guest is None:
        guest = {"domain_uuid": ev["domain_uuid"], "first_seen_at": ev["started_at"],
                 "current_host": None, "state": "unknown", "last_event_at": ev["started_at"],
                 "conflict_host": None, "conflict_event_id": None, "conflict_at": None}
    elif ev["started_at"] < guest["last_event_at"]:
        return guest
    state = next_state(ev["driver"], ev["op"], ev["outcome"], ev.get("exit_code"))
    if conflicts(guest, ev, ok, state):
        return dict(guest, conflict_host=ev["host"], conflict_event_id=ev["event_id"],
                    conflict_at=ev["started_at"])
    guest = dict(guest, name=ev["object"], driver=ev["driver"], last_event_at=ev["started_at"],
                 last_event_id=ev["event_id"], last_op=ev["op"], last_outcome=ev["outcome"])
    elsewhere = guest["current_host"] not in (None, ev["host"])
    moves = not elsewhere or guest["state"] not in ACTIVE or (ok and ev["op"] in ARRIVALS)
    if moves and state is not None:
        guest["state"], guest["current_host"] = state, ev["host"]
    elif guest["current_host"] is None:
        guest["current_host"] = ev["host"]
    return guest


def conflicts(guest: dict, ev: dict, ok: bool, state: str | None) -> bool:
    """Would ``ev`` move a guest that is active on another host, without a migration? One
    host's token sending a start, restore or reconnect for a guest running elsewhere is
    either a forgery or a split brain: the guest stays where it is (issue 13 §3)."""
    elsewhere = guest["current_host"] not in (None, ev["host"])
    return (elsewhere and guest["state"] in ACTIVE and ok and state is not None
            and ev["op"] in ARRIVALS and ev["op"] != "migrate")
