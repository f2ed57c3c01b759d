"""The alert tables: the delivery log (visible to admins) and the cross-process throttle."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select, text

from app.alerts import targets as targets_mod
from app.alerts.grouping import Alert
from app.models import AlertDelivery
from app.timeutil import iso, utcnow

# One statement on both engines: insert the claim, or take it over only if it has expired.
_CLAIM = text(
    "INSERT INTO alert_throttle (key, until) VALUES (:key, :until) "
    "ON CONFLICT (key) DO UPDATE SET until = excluded.until WHERE alert_throttle.until <= :now"
)


class AlertStore:
    def __init__(self, db):
        self.db = db

    def claim(self, alert_key: str, now: float, window_s: float) -> bool:
        """True if this process may send the group now (nobody sent it within the window).
        The claim ends slightly before the window does, so this process's own next alert
        (due exactly one window later) is never refused by its own previous claim."""
        key = hashlib.sha256(alert_key.encode("utf-8", "surrogatepass")).hexdigest()
        with self.db.session(write=True) as s:
            res = s.execute(_CLAIM, {"key": key, "until": now + window_s * 0.9, "now": now})
            return res.rowcount == 1

    def record_new(self, alert: Alert, target) -> int:
        row = AlertDelivery(
            created_at=utcnow(),
            kind=alert.kind,
            host=alert.host[:255],
            guest=alert.guest[:255],
            count=alert.count,
            is_test=alert.test,
            summary=targets_mod.summary_line(alert),
            target=target.display[:512],
            format=target.format,
            status="pending",
            attempts=0,
        )
        with self.db.session(write=True) as s:
            s.add(row)
            s.flush()
            return row.id

    def record_attempt(self, delivery_id: int, status: str, attempts: int, result, _body) -> None:
        with self.db.session(write=True) as s:
            row = s.get(AlertDelivery, delivery_id)
            if row is None:
                return
            row.status, row.attempts = status, attempts
            row.http_status, row.last_error = result.http_status, result.error
            row.last_attempt_at = utcnow()
            if result.ok:
                row.delivered_at = row.last_attempt_at

    def hosts_last_seen(self) -> list[tuple[str, datetime | None]]:
        from app.metrics import hosts_last_seen

        return hosts_last_seen(self.db)

    def list_deliveries(self, limit: int = 50, before_id: int | None = None) -> list[dict]:
        q = select(AlertDelivery).order_by(AlertDelivery.id.desc()).limit(limit)
        if before_id is not None:
            q = q.where(AlertDelivery.id < before_id)
        with self.db.session() as s:
            return [delivery_dict(r) for r in s.scalars(q)]


def delivery_dict(row: AlertDelivery) -> dict:
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "kind": row.kind,
        "host": row.host,
        "guest": None if row.guest == "-" else row.guest,
        "count": row.count,
        "test": row.is_test,
        "summary": row.summary,
        "target": row.target,
        "format": row.format,
        "status": row.status,
        "attempts": row.attempts,
        "http_status": row.http_status,
        "last_error": row.last_error,
        "last_attempt_at": iso(row.last_attempt_at),
        "delivered_at": iso(row.delivered_at),
    }
