"""The guest page's call table grouped per boot, pure: boots (app/services/guests.py
``group_boots``) and event summaries in, captions and groups out.

A caption reads "boot on dom0-a 18:45:54–18:48:11, ended by migration → dom0-b"; migrate
rows carry ``migration`` = {source, destination} so the row names both hosts.
"""
from __future__ import annotations

from datetime import datetime

from app.timeutil import as_naive_utc

# release's extra (qemu, lxc since 10.5.0) in words
END_REASONS = {"shutdown": "shutdown", "destroyed": "destroy", "crashed": "crash",
               "migrated": "migration", "saved": "save", "failed": "failure",
               "from snapshot": "snapshot revert", "daemon": "daemon", "unknown": "unknown reason"}


def _hms(value) -> str:
    when = value if isinstance(value, datetime) else as_naive_utc(value)
    return when.strftime("%H:%M:%S")


def boot_caption(boot: dict, boots: list[dict]) -> str:
    """One line: where the boot ran, from when to when, how it began and ended."""
    src = boots[boot["migrated_from"]]["host"] if boot.get("migrated_from") is not None else None
    dst = boots[boot["migrated_to"]]["host"] if boot.get("migrated_to") is not None else None
    began = {"migration": f"migration from {src}" if src else "incoming migration",
             "restore": "restore", "reconnect": "reconnect"}.get(boot["via"])
    if boot.get("began_before"):   # recent_boots: its first calls are older than the list
        text, began = f"boot on {boot['host']} (began before the listed calls) …", None
    else:
        text = f"boot on {boot['host']} {_hms(boot['started_at'])}"
    if boot["ended_at"]:
        text += f"–{_hms(boot['ended_at'])}"
    elif boot["status"] == "running":
        text += "–running"
    if began:
        text += f", began by {began}"
    if dst:
        text += f", ended by migration → {dst}"
    elif boot["status"] in ("aborted", "killed"):
        text += f", {boot['status']}"
    elif boot.get("end_reason"):
        text += f", ended by {END_REASONS.get(boot['end_reason'], boot['end_reason'])}"
    return text


def calls_by_boot(boots: list[dict], summaries: list[dict]) -> list[dict]:
    """Newest boot first, each {caption, boot index, events newest first}: the events are the
    given summaries (a capped list), so a boot none of whose calls is listed is left out."""
    by_id = {s["event_id"]: s for s in summaries}
    groups = []
    for boot in reversed(boots):
        shown = [by_id[ev["event_id"]] for ev in reversed(boot["events"])
                 if ev["event_id"] in by_id]
        src = boots[boot["migrated_from"]]["host"] if boot.get("migrated_from") is not None \
            else None
        for ev in shown:
            if ev["op"] == "migrate":
                ev["migration"] = {"source": src, "destination": ev["host"]}
        if shown:
            groups.append({"index": boot["index"], "caption": boot_caption(boot, boots),
                           "status": boot["status"], "events": shown})
    return groups
