"""Webhook targets and the bodies they receive.

``HOOKAUDIT_WEBHOOK_URLS`` is a comma-separated list. Each URL's body format:
  - ``slack+https://...``  -> Slack-compatible ``{"text": ...}`` (prefix stripped before sending)
  - ``json+https://...``   -> generic JSON (prefix stripped)
  - no prefix: Slack format when the host is hooks.slack.com or the path ends in ``/slack``
    (the Slack-compatible endpoints of Mattermost-style and Discord-style receivers), else JSON.
Webhook URLs often carry their secret in the path, so only ``Target.display`` (scheme, host and
the first path segment) is ever logged or shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.alerts.grouping import Alert
from app.timeutil import from_epoch, iso

FORMATS = ("json", "slack")


@dataclass(frozen=True)
class Target:
    url: str
    format: str

    @property
    def display(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        first = parts.path.strip("/").split("/")[0]
        rest = "/..." if parts.path.strip("/").count("/") or parts.query else ""
        return f"{self.format}+{parts.scheme}://{host}/{first}{rest}"


def parse_target(raw: str) -> Target:
    raw = raw.strip()
    for fmt in FORMATS:
        if raw.startswith(fmt + "+"):
            return Target(raw[len(fmt) + 1 :], fmt)
    parts = urlsplit(raw)
    slack = parts.hostname == "hooks.slack.com" or parts.path.rstrip("/").endswith("/slack")
    return Target(raw, "slack" if slack else "json")


def parse_targets(value: str | list | None) -> list[Target]:
    """Settings value (comma-separated string or list) -> targets; rejects non-http(s) URLs."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    targets = [parse_target(item) for item in items if item.strip()]
    for target in targets:
        if urlsplit(target.url).scheme not in ("http", "https"):
            raise ValueError(f"webhook URL must be http(s): {target.display}")
    return targets


TITLES = {
    "aborted": "guest operation aborted",
    "killed": "running guest killed",
    "policy_denied": "policy denied a guest operation",
    "seq_gap": "events missing (sequence gap)",
    "chain_failure": "hash chain failure",
    "host_silent": "host silent (no heartbeat)",
    "conflict": "two running guests hold one MAC or writable disk",
    "test": "test alert",
}


def summary_line(alert: Alert) -> str:
    title = TITLES.get(alert.kind, alert.kind)
    times = f"{alert.count} x " if alert.count > 1 else ""
    guest = "" if alert.guest == "-" else f" guest {alert.guest}"
    line = f"[hookaudit] {times}{title}: host {alert.host}{guest}"
    sample = alert.samples[0] if alert.samples else {}
    if sample.get("reason"):
        line += f" ({sample.get('op')}: {sample['reason']})"
    return line


def generic_body(alert: Alert, base_url: str | None = None) -> dict:
    return {
        "source": "hookaudit",
        "version": 1,
        "kind": alert.kind,
        "test": alert.test,
        "host": alert.host,
        "guest": None if alert.guest == "-" else alert.guest,
        "count": alert.count,
        "first_at": iso(from_epoch(alert.first_at)),
        "last_at": iso(from_epoch(alert.last_at)),
        "summary": summary_line(alert),
        "samples": alert.samples,
        "dashboard_url": base_url,
    }


def slack_body(alert: Alert, base_url: str | None = None) -> dict:
    lines = [summary_line(alert)]
    for s in alert.samples:
        if s.get("event_id"):
            lines.append(
                f"- {s.get('started_at')} {s.get('object')} {s.get('op')}/"
                f"{s.get('subop')} -> {s.get('outcome')} (seq {s.get('seq')})"
            )
    if base_url:
        lines.append(base_url)
    return {"text": "\n".join(lines)}


def render(target: Target, alert: Alert, base_url: str | None = None) -> bytes:
    body = (
        slack_body(alert, base_url) if target.format == "slack" else generic_body(alert, base_url)
    )
    return json.dumps(body, default=str).encode("utf-8")
