"""Clock skew: an event whose ``started_at`` is too far from the server's receive time.

A host whose clock is wrong (year 9999, year 1, a dead RTC battery) must not lose its event
(an audit tool keeps everything a host sent) nor let its clock steer anything. So such an
event is stored with ``clock_skew`` set, its ``started_at`` column holding the server's
receive time (lists and timelines place it when it arrived, it never tops every list) and
``host_started_at`` the time the host claimed (also in the hashed canonical form, unchanged).
It does not move its guest's state (app/services/ingest.py ``_update_guests``).
"""
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ClockBounds:
    """How far a host's ``started_at`` may be from the receive time and still be believed.

    ``future``: ahead of the server (a few minutes of drift; nothing happens in the future).
    ``past``: behind it (a spool may hold events for as long as the server was unreachable).
    """

    future: timedelta = timedelta(seconds=600)
    past: timedelta = timedelta(days=3650)

    @classmethod
    def of(cls, settings) -> "ClockBounds":
        return cls(timedelta(seconds=settings.clock_skew_future_s),
                   timedelta(days=settings.clock_skew_past_days))

    def skewed(self, started_at: datetime, received_at: datetime) -> bool:
        return not (received_at - self.past <= started_at <= received_at + self.future)


def apply_bounds(prepared: list, now: datetime, bounds: ClockBounds) -> None:
    """Mark each Prepared outside ``bounds``: ``claimed`` keeps the host's time and
    ``started_at`` becomes ``now`` (what every later step of ingest reads)."""
    low, high = now - bounds.past, now + bounds.future
    for p in prepared:
        if not low <= p.started_at <= high:
            p.claimed, p.started_at = p.started_at, now
