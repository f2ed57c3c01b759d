"""The alert worker: one daemon thread per app, fed by the ingest listener through a bounded
queue, so ingest never waits on a webhook. It groups signals (grouping.Grouper), claims each
alert in the database so several app processes send it once, delivers to every target with
retries and exponential backoff, and writes every attempt to the delivery log."""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.alerts import rules, sender
from app.alerts import targets as targets_mod
from app.alerts.grouping import Alert, Grouper

log = logging.getLogger("hookaudit.alerts")
QUEUE_MAX = 10_000  # summaries waiting for the worker; beyond that they are dropped and counted


@dataclass
class AlertConfig:
    targets: list = field(default_factory=list)  # list[targets.Target]
    kinds: tuple = rules.KINDS
    group_wait_s: float = 10.0
    window_s: float = 300.0
    max_attempts: int = 6
    backoff_base_s: float = 2.0
    timeout_s: float = 5.0
    silent_after_s: float = 0.0  # 0 = the silent-host rule is off
    base_url: str | None = None


@dataclass(order=True)
class _Job:
    due: float
    order: int
    alert: Alert = field(compare=False)
    target: object = field(compare=False)
    delivery_id: object = field(compare=False)
    attempts: int = field(default=0, compare=False)


class AlertWorker:
    def __init__(self, config: AlertConfig, store, metrics=None):
        self.config, self.store, self.metrics = config, store, metrics
        self.grouper = Grouper(config.group_wait_s, config.window_s)
        self.queue: queue.Queue = queue.Queue(QUEUE_MAX)
        self._jobs: list[_Job] = []  # heap of deliveries waiting for their (next) attempt
        self._order = itertools.count()
        self._silent_seen: dict[str, object] = {}
        self._next_silent_check = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ticking = False

    # --- called from request threads: must never block ---------------------------------
    def listener(self, summary: dict) -> None:
        """The ``app.state.ingest_listeners`` entry: enqueue and return."""
        try:
            self.queue.put_nowait(("summary", summary))
        except queue.Full:
            log.warning(
                "alert queue full; dropped signals of one batch from %s", summary.get("host")
            )
            self._count("dropped")

    def notify(self, signal: rules.Signal) -> None:
        """Queue one signal raised outside ingest (the facts pass's conflicts); never blocks."""
        try:
            self.queue.put_nowait(("signals", [signal]))
        except queue.Full:
            log.warning("alert queue full; dropped a %s signal", signal.kind)
            self._count("dropped")

    def send_test(self, requested_by: str | None = None) -> list:
        """Queue a test alert to every target now (no grouping); returns the delivery ids."""
        now = time.time()
        detail = {"requested_by": requested_by, "reason": "test alert from hookaudit"}
        alert = Alert("test", "-", "-", 1, now, now, [detail], test=True)
        ids = [self.store.record_new(alert, t) for t in self.config.targets]
        self.queue.put(("jobs", list(zip(ids, self.config.targets, [alert] * len(ids)))))
        return ids

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hookaudit-alerts", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def idle(self) -> bool:
        """Nothing queued, grouped or waiting for a (next) delivery attempt."""
        return (self.queue.unfinished_tasks == 0 and self.grouper.next_due() is None
                and not self._jobs and not self._ticking)

    def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until everything queued so far was sent or gave up:
        a process that stops (`hookaudit facts worker`) delivers what it found first."""
        deadline = time.monotonic() + timeout
        while self.running and not self.idle() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.idle()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.queue.put(("stop", None))
        if self._thread:
            self._thread.join(timeout)

    # --- the worker thread ----------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.queue.get(timeout=self._sleep_s())
            except queue.Empty:
                pass
            else:
                try:
                    self._handle(item)
                finally:
                    self.queue.task_done()
            self._ticking = True   # due alerts leave the grouper before their jobs exist
            try:
                self._tick(time.time())
            except Exception:  # a DB hiccup must not kill the thread; next tick retries
                log.exception("alert worker tick failed")
            finally:
                self._ticking = False

    def _sleep_s(self) -> float:
        times = [self.grouper.next_due(), self._jobs[0].due if self._jobs else None]
        if self.config.silent_after_s > 0:
            times.append(self._next_silent_check)
        soonest = min([t for t in times if t is not None], default=time.time() + 1.0)
        return max(0.01, min(1.0, soonest - time.time()))

    def _handle(self, item) -> None:
        kind, payload = item
        if kind == "summary":
            now = time.time()
            for signal in rules.signals_from_summary(payload, self.config.kinds):
                self.grouper.add(signal, now)
        elif kind == "signals":
            now = time.time()
            for signal in payload:
                if signal.kind in self.config.kinds:
                    self.grouper.add(signal, now)
        elif kind == "jobs":
            for delivery_id, target, alert in payload:
                self._push(_Job(0.0, next(self._order), alert, target, delivery_id))

    def _tick(self, now: float) -> None:
        for alert in self.grouper.due(now):
            self._dispatch(alert, now)
        while self._jobs and self._jobs[0].due <= now and not self._stop.is_set():
            self._attempt(heapq.heappop(self._jobs))
        if self.config.silent_after_s > 0 and now >= self._next_silent_check:
            self._check_silent(now)

    def _dispatch(self, alert: Alert, now: float) -> None:
        if not self.store.claim(alert.key, now, self.config.window_s):
            self._count("suppressed")  # another app process sent this group's alert already
            return
        for target in self.config.targets:
            delivery_id = self.store.record_new(alert, target)
            self._push(_Job(now, next(self._order), alert, target, delivery_id))

    def _attempt(self, job: _Job) -> None:
        body = targets_mod.render(job.target, job.alert, self.config.base_url)
        result = sender.post(job.target.url, body, self.config.timeout_s)
        job.attempts += 1
        final = result.ok or not result.retryable or job.attempts >= self.config.max_attempts
        status = "delivered" if result.ok else ("failed" if final else "retrying")
        self.store.record_attempt(job.delivery_id, status, job.attempts, result, body)
        self._count(status)
        if not final:
            job.due = time.time() + sender.backoff_s(job.attempts, self.config.backoff_base_s)
            self._push(job)

    def _check_silent(self, now: float) -> None:
        self._next_silent_check = now + max(1.0, min(60.0, self.config.silent_after_s / 4))
        hosts = self.store.hosts_last_seen()
        when = datetime.fromtimestamp(now, UTC)
        silent = rules.silent_host_signals(hosts, when, self.config.silent_after_s)
        for signal in silent:
            # once per silence: the same last_seen value is not reported again
            if (
                "host_silent" in self.config.kinds
                and self._silent_seen.get(signal.host) != signal.detail["last_seen"]
            ):
                self._silent_seen[signal.host] = signal.detail["last_seen"]
                self.grouper.add(signal, now)

    def _push(self, job: _Job) -> None:
        heapq.heappush(self._jobs, job)

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.alert_result(result)
