"""The event lists' row, built in Python (app/web/render.py ``_event_row``), renders exactly
what the Jinja macro it replaced rendered, for ordinary, hostile and sparse events."""
import itertools
from datetime import datetime

import pytest
from markupsafe import Markup

from app.web.render import make_env

# The macro as it was (templates/macros.html before the row moved to Python): the reference.
REFERENCE = """{% macro event_row(ev, show_guest=True) -%}
<tr id="ev-{{ ev.event_id }}">
  <td><a href="/events/{{ ev.event_id }}">{{ ev.started_at|time }}</a>{% if ev.clock_skew %} <span class="badge o-timed_out" title="received at this time; the host said {{ ev.host_started_at }}">clock skew</span>{% endif %}</td>
  {% if show_guest %}<td>{{ guest_link(ev.object, ev.domain_uuid) }}</td>{% endif %}
  <td><a href="/events?host={{ ev.host|urlencode }}">{{ ev.host }}</a></td>
  <td class="mono">{{ ev.driver }} {{ ev.op }} {{ ev.subop }}{% if ev.extra and ev.extra != "-" %} {{ ev.extra }}{% endif %}{% if ev.known_op is false %} <span class="badge o-timed_out" title="not an op libvirt calls hooks with">unknown op</span>{% endif %}{% if ev.migration %} <span class="migration">{{ ev.migration.source or "?" }} → {{ ev.migration.destination }}</span>{% endif %}</td>
  <td>{{ ev.outcome|outcome }}</td>
  <td class="num">{{ ev.duration_ms|duration }}</td>
  <td class="wrap">{{ ev.reason or "" }}</td>
</tr>
{%- endmacro %}"""

BASE = {"event_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "started_at": "2026-12-07T10:11:12.123456Z", "object": "web-1",
        "domain_uuid": "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", "host": "dom0-a",
        "driver": "qemu", "op": "prepare", "subop": "begin", "extra": "-", "outcome": "ok",
        "duration_ms": 12.5, "reason": None}
VARIANTS = [
    {},
    {"outcome": "aborted", "reason": "policy: <b>no</b> & \"quoted\" 'x'", "duration_ms": 1500.0},
    {"host": "dom0 rack/7?&x=<y>", "object": "<script>alert(1)</script>", "extra": "shutdown"},
    {"clock_skew": True, "host_started_at": "2027-01-01T00:00:00Z\"><b>"},
    {"known_op": False, "op": "frobnicate", "subop": None},
    {"known_op": None},
    {"migration": {"source": None, "destination": "dom0-b"}, "op": "migrate"},
    {"migration": {"source": "dom0-a<", "destination": "dom0-b&"}, "op": "migrate"},
    {"domain_uuid": None, "outcome": None, "duration_ms": None},
    {"extra": "", "reason": ""},
    {"started_at": datetime(2026, 12, 7, 1, 2, 3, 456), "outcome": "failed_ignored"},
    {"started_at": None, "outcome": "timed_out", "duration_ms": 0.04},
    {"subop": Markup("<b>already markup</b>"), "reason": 42},
]
DROPPED = [(), ("reason",), ("clock_skew", "extra"), ("object", "domain_uuid"), ("migration",)]


def cases():
    for variant, dropped in itertools.product(VARIANTS, DROPPED):
        ev = {**BASE, **variant}
        for key in dropped:
            ev.pop(key, None)
        yield ev


@pytest.mark.parametrize("show_guest", [True, False])
def test_python_row_equals_the_macro(show_guest):
    env = make_env()
    macro = env.from_string("{% from 'macros.html' import guest_link %}" + REFERENCE
                            + "{{ event_row(ev, show_guest) }}")
    row = env.from_string("{% from 'macros.html' import event_row %}"
                          "{{ event_row(ev, show_guest) }}")
    n = 0
    for ev in cases():
        assert row.render(ev=ev, show_guest=show_guest) == \
            macro.render(ev=ev, show_guest=show_guest), ev
        n += 1
    assert n == len(VARIANTS) * len(DROPPED)


def test_the_row_escapes_what_hosts_send():
    html = make_env().from_string("{% from 'macros.html' import event_row %}{{ event_row(ev) }}")
    out = html.render(ev={**BASE, "object": "<script>x</script>", "reason": "<img src=x>"})
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;x&lt;/script&gt;" in out
