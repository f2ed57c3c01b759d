"""One alert per burst: the grouping rule driven with explicit times."""

from app.alerts.grouping import Grouper
from app.alerts.rules import Signal


def sig(kind="aborted", host="h", guest="g", n=0):
    return Signal(kind, host, guest, {"seq": n})


def test_a_burst_of_events_is_one_alert_with_its_count():
    g = Grouper(group_wait_s=10, window_s=300)
    for i in range(50):
        g.add(sig(n=i), now=100 + i * 0.01)
    assert g.due(105) == []  # still collecting the burst
    [alert] = g.due(110.5)
    assert (alert.count, alert.kind, len(alert.samples)) == (50, "aborted", 5)
    assert g.due(500) == []  # nothing new: nothing sent


def test_a_second_burst_inside_the_window_waits_for_the_window_end():
    g = Grouper(group_wait_s=10, window_s=300)
    g.add(sig(), now=0)
    assert len(g.due(10)) == 1
    g.add(sig(), now=60)
    g.add(sig(), now=61)
    assert g.due(100) == []  # rate limited
    [alert] = g.due(310)
    assert alert.count == 2


def test_different_guests_hosts_and_kinds_are_separate_alerts():
    g = Grouper(group_wait_s=0, window_s=300)
    for s in (sig(), sig(guest="g2"), sig(host="h2"), sig(kind="killed"), sig()):
        g.add(s, now=0)
    assert sorted(a.count for a in g.due(0)) == [1, 1, 1, 2]


def test_next_due_tells_the_worker_when_to_wake():
    g = Grouper(group_wait_s=10, window_s=300)
    assert g.next_due() is None
    g.add(sig(), now=5)
    assert g.next_due() == 15
