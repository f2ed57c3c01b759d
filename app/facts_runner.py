"""Where the facts pass runs (``HOOKAUDIT_FACTS_PASS``):
- ``thread`` (default): a background thread of the server that runs app/services/facts_pass.py
  ``catch_up`` at start (the backfill a migration queued, anything a crash left) and shortly
  after each ingest batch commits; conflicts that start or end go to the app's alert worker.
- ``worker``: not in the server; ``run_worker`` (`hookaudit facts worker`) runs it in its own
  process, polling the queue, with its own alert worker for the conflicts.

Behind ingest on purpose: extraction costs about as much CPU as storing the event
(docs/attribution.md), so the request never waits for it; in a thread it still competes with
ingest for the GIL, a worker process uses another core. ``facts_pass_interval_s`` = 0 leaves
the pass to `hookaudit facts catch-up` (tests, cron)."""
import dataclasses
import logging
import threading

from app import alerts
from app.alerts.rules import conflict_signal
from app.db import Database
from app.facts.collisions import Segments
from app.services.facts_pass import catch_up, has_pending

log = logging.getLogger("hookaudit.facts")


class FactsRunner:
    def __init__(self, make_db, interval_s: float, notify=None, segments: Segments = Segments()):
        self.make_db, self.interval_s, self.notify = make_db, interval_s, notify
        self.segments = segments
        self.db: Database | None = None
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def listener(self, _summary: dict) -> None:
        """The ``ingest_listeners`` entry: new events are queued; run soon."""
        self._wake.set()

    def start(self, _app=None):
        # its own engine (made anew at each start: an app's lifespan may run more than once),
        # so the pass never takes the requests' connections
        self.db = self.make_db()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="hookaudit-facts", daemon=True)
        self._thread.start()
        return self.stop

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
            self.db.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                catch_up(self.db, on_signal=self._signal, segments=self.segments)
            except Exception:   # a DB hiccup must not kill the thread: the queue stays
                log.exception("facts pass failed; retrying")
            self._wake.wait(self.interval_s)
            self._stop.wait(self.interval_s / 4)   # let a burst of batches queue up
            self._wake.clear()

    def _signal(self, conflict: dict) -> None:
        if self.notify is not None:
            self.notify(conflict_signal(conflict))


def install(app, settings) -> None:
    """Run the facts pass in this app unless ``facts_pass`` is ``worker`` (other processes
    run it) or ``facts_pass_interval_s`` is 0."""
    if settings.facts_pass == "worker":
        log.info("facts pass: left to `hookaudit facts worker` (HOOKAUDIT_FACTS_PASS=worker)")
        return
    if settings.facts_pass_interval_s <= 0:
        return
    notify = app.state.alerts.notify if app.state.alerts.config.targets else None
    runner = FactsRunner(lambda: Database(settings.database_url, pool_size=1),
                         settings.facts_pass_interval_s, notify, segments_of(settings))
    app.state.facts_runner = runner
    app.state.ingest_listeners.append(runner.listener)
    app.state.startup_hooks.append(runner.start)


def segments_of(settings) -> Segments:
    """The operator's host-local / shared network overrides (docs/attribution.md)."""
    return Segments.parse(settings.facts_host_local_networks, settings.facts_shared_networks)


DEFAULT_WORKER_INTERVAL_S = 2.0


def run_worker(settings, stop: threading.Event, interval_s: float | None = None,
               ready=None) -> None:
    """`hookaudit facts worker`: run the facts pass whenever something is queued, polling
    every ``interval_s`` (default ``facts_pass_interval_s``, 2 s when that is 0), until
    ``stop`` is set. The pass is the same as the server thread's: several workers and servers
    on one database never run two passes at once (facts_pass.run_pass). Conflicts go to an
    alert worker of this process built from the same settings (the silent-host rule stays
    with the server); the alert store's claim makes several processes send an alert once.
    What it found before ``stop`` is delivered before it returns (bounded wait)."""
    interval = interval_s or settings.facts_pass_interval_s or DEFAULT_WORKER_INTERVAL_S
    db = Database(settings.database_url, pool_size=1)
    config = dataclasses.replace(alerts.config_from_settings(settings), silent_after_s=0)
    sender = alerts.AlertWorker(config, alerts.AlertStore(db)) if config.targets else None
    notify = (lambda c: sender.notify(conflict_signal(c))) if sender else None
    segments = segments_of(settings)
    if sender:
        sender.start()
    if ready is not None:
        ready()
    try:
        while not stop.is_set():
            try:
                if has_pending(db):
                    result = catch_up(db, on_signal=notify, segments=segments,
                                      stopping=stop.is_set)
                    log.info("facts pass: %d guest(s), %d conflict change(s)",
                             result.guests, len(result.signals))
            except Exception:   # a DB hiccup must not end the worker: the queue stays
                log.exception("facts pass failed; retrying")
            stop.wait(interval)
    finally:
        if sender:
            if not sender.drain(config.group_wait_s + 2 * config.timeout_s + 5):
                log.warning("facts worker: stopping with alerts not yet delivered")
            sender.stop()
        db.dispose()
