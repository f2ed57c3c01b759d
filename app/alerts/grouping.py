"""One alert per burst: group signals by (kind, host, guest) and decide when a group is sent.

Rule (the same as Alertmanager's group_wait / repeat interval, reduced to two numbers):
a group's pending signals are sent together ``group_wait_s`` after the first of them arrived,
and never sooner than ``window_s`` after the previous alert of that group. A burst of 500
aborts of one guest is therefore one alert ("500 x aborted"), and a steady trickle is at most
one alert per window. Pure: time is passed in, so tests drive it without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.alerts.rules import Signal

MAX_SAMPLES = 5  # an alert quotes a few events; the count says how many there were


@dataclass
class Alert:
    kind: str
    host: str
    guest: str
    count: int
    first_at: float
    last_at: float
    samples: list = field(default_factory=list)
    test: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.host}:{self.guest}"


@dataclass
class _Group:
    pending: list = field(default_factory=list)  # (time, signal) not yet sent
    last_sent_at: float | None = None


class Grouper:
    def __init__(self, group_wait_s: float = 10.0, window_s: float = 300.0):
        self.group_wait_s = group_wait_s
        self.window_s = window_s
        self._groups: dict[tuple, _Group] = {}

    def add(self, signal: Signal, now: float) -> None:
        group = self._groups.setdefault(signal.key, _Group())
        if len(group.pending) < 10_000:  # bound memory under a flood; count stays exact enough
            group.pending.append((now, signal))

    def _due_at(self, group: _Group) -> float:
        first = group.pending[0][0] + self.group_wait_s
        if group.last_sent_at is None:
            return first
        return max(first, group.last_sent_at + self.window_s)

    def next_due(self) -> float | None:
        """When the next group becomes due (None: nothing pending); lets the worker sleep."""
        times = [self._due_at(g) for g in self._groups.values() if g.pending]
        return min(times) if times else None

    def due(self, now: float) -> list[Alert]:
        """Pop every group whose time has come, as one Alert each; forget idle groups."""
        alerts = []
        for key, group in list(self._groups.items()):
            if group.pending and now >= self._due_at(group):
                alerts.append(_alert(group.pending))
                group.pending, group.last_sent_at = [], now
            elif not group.pending and now - (group.last_sent_at or 0) > self.window_s:
                del self._groups[key]
        return alerts


def _alert(pending: list) -> Alert:
    first_sig: Signal = pending[0][1]
    return Alert(
        kind=first_sig.kind,
        host=first_sig.host,
        guest=first_sig.guest,
        count=len(pending),
        first_at=pending[0][0],
        last_at=pending[-1][0],
        samples=[s.detail for _, s in pending[:MAX_SAMPLES]],
    )
