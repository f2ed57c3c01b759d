"""Webhook alerts: rules (which facts notify) -> grouping (one alert per burst) -> worker
(background thread: throttle claim, delivery with retries, delivery log) -> targets (JSON or
Slack-compatible bodies). create_app builds the worker with ``build_worker``; its admin routes
are app/api/alerts.py."""

from app.alerts.rules import KINDS
from app.alerts.store import AlertStore
from app.alerts.targets import parse_targets
from app.alerts.worker import AlertConfig, AlertWorker


def config_from_settings(settings) -> AlertConfig:
    kinds = tuple(k.strip() for k in settings.alert_kinds.split(",") if k.strip())
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(
            f"HOOKAUDIT_ALERT_KINDS: unknown kind(s) {sorted(unknown)}; known: {KINDS}"
        )
    return AlertConfig(
        targets=parse_targets(settings.webhook_urls),
        kinds=kinds,
        group_wait_s=settings.alert_group_wait_s,
        window_s=settings.alert_window_s,
        max_attempts=settings.alert_max_attempts,
        backoff_base_s=settings.alert_backoff_s,
        timeout_s=settings.alert_timeout_s,
        silent_after_s=settings.alert_silent_after_s,
        base_url=settings.public_url,
    )


def build_worker(settings, db, metrics=None) -> AlertWorker:
    """The alert worker of an app; create_app starts it, and feeds it ingest summaries, only
    when at least one webhook is configured (otherwise there is nothing to deliver)."""
    return AlertWorker(config_from_settings(settings), AlertStore(db), metrics)
