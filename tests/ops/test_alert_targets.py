"""Webhook URL -> body format, and the secret part of a URL is never displayed."""

import json

import pytest

from app.alerts.grouping import Alert
from app.alerts.targets import parse_target, parse_targets, render


@pytest.mark.parametrize(
    "raw, url, fmt",
    [
        ("https://alerts.example.net/hook", "https://alerts.example.net/hook", "json"),
        ("slack+https://chat.example.net/hooks/abc", "https://chat.example.net/hooks/abc", "slack"),
        (
            "json+https://hooks.slack.com/services/T/B/X",
            "https://hooks.slack.com/services/T/B/X",
            "json",
        ),
        (
            "https://hooks.slack.com/services/T/B/X",
            "https://hooks.slack.com/services/T/B/X",
            "slack",
        ),
        (
            "https://discord.example/api/webhooks/1/tok/slack",
            "https://discord.example/api/webhooks/1/tok/slack",
            "slack",
        ),
    ],
)
def test_format_is_chosen_per_url(raw, url, fmt):
    assert parse_target(raw) == type(parse_target(raw))(url, fmt)


def test_display_hides_the_secret_path():
    t = parse_target("https://hooks.slack.com/services/T000/B000/SECRETSECRET")
    assert "SECRET" not in t.display and t.display.startswith("slack+https://hooks.slack.com/")


def test_comma_separated_setting_and_non_http_refused():
    assert len(parse_targets("http://a/x, slack+https://b/y,,")) == 2
    with pytest.raises(ValueError):
        parse_targets("file:///etc/passwd")


ALERT = Alert(
    "aborted",
    "dom0-a",
    "u-1",
    3,
    0.0,
    1.0,
    [{"event_id": "e1", "seq": 4, "op": "prepare", "reason": "exit 1: no bridge"}],
)


def test_generic_body_carries_the_group_and_samples():
    body = json.loads(render(parse_target("http://x/y"), ALERT))
    assert (body["kind"], body["host"], body["guest"], body["count"]) == (
        "aborted",
        "dom0-a",
        "u-1",
        3,
    )
    assert body["samples"][0]["event_id"] == "e1" and body["test"] is False


def test_slack_body_is_text_with_the_reason():
    body = json.loads(render(parse_target("slack+http://x/y"), ALERT))
    assert set(body) == {"text"} and "3 x guest operation aborted" in body["text"]
    assert "no bridge" in body["text"]
