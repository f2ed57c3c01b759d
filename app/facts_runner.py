"""The facts pass in the server: a background thread that runs app/services/facts_pass.py
``catch_up`` at start (the backfill a migration queued, anything a crash left) and shortly
after each ingest batch commits; conflicts that start or end go to the alert worker.

Behind ingest on purpose: extraction costs ~8x what storing an event does
(docs/attribution.md), so the request never waits for it. ``facts_pass_interval_s`` = 0
leaves the pass to `hookaudit facts catch-up` (tests, a separate worker process)."""
import logging
import threading

from app.alerts.rules import conflict_signal
from app.db import Database
from app.facts.collisions import Segments
from app.services.facts_pass import catch_up

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
    """Run the facts pass in this app unless ``facts_pass_interval_s`` is 0."""
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
