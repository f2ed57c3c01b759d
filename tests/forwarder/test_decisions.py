"""Pure decisions of the forwarder: status classes, Retry-After, backoff, batch encoding."""
import json

import pytest

from hookshim.forward_decisions import Backoff, classify, encode_batch, retry_after


@pytest.mark.parametrize("status, kind", [
    (200, "ok"),
    (408, "transient"),     # request timeout: the server gave up waiting for us
    (429, "transient"),     # rate limited
    (500, "transient"),
    (502, "transient"),     # proxy in front of a restarting server
    (503, "transient"),
    (413, "too_large"),     # split the batch
    (422, "invalid"),       # park the named events
    (401, "refused"),       # revoked/unknown token: wait for an operator
    (403, "refused"),       # event claims another host: a config error
    (404, "refused"),       # wrong server_url
    (400, "refused"),
])
def test_classify(status, kind):
    assert classify(status) == kind


@pytest.mark.parametrize("headers, seconds", [
    ({}, None),                                              # absent
    ({"retry-after": "7"}, 7.0),                             # delta-seconds
    ({"retry-after": "-3"}, 0.0),                            # negative: retry now
    ({"retry-after": "999999"}, 3600.0),                     # capped at an hour
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past
    ({"retry-after": "soon"}, None),                         # garbage: ignored
])
def test_retry_after(headers, seconds):
    assert retry_after(headers) == seconds


def test_backoff_ceiling_doubles_up_to_the_cap():
    b = Backoff(base=0.5, cap=60, rng=lambda: 1.0)  # rng=1: the ceiling itself
    assert [b.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]


def test_backoff_is_full_jitter_and_resets():
    b = Backoff(base=1, cap=60, rng=lambda: 0.25)
    assert [b.next() for _ in range(3)] == [0.25, 0.5, 1.0]
    b.reset()
    assert b.next() == 0.25


def test_encode_batch_stops_before_max_bytes_but_takes_at_least_one():
    events = [{"event_id": str(i), "xml": "x" * 100} for i in range(5)]
    body, n = encode_batch(events, 300)
    assert n == 2 and len(body) <= 300
    assert json.loads(body) == {"events": events[:2]}
    assert encode_batch(events, 10)[1] == 1
