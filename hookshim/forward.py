"""The forwarder: drain the host's spool to the server, bring the policy bundle back.

Delivery guarantee: an event leaves the spool's unsent states only when the server
acknowledged it (``mark_sent``) or rejected exactly that event for good (``park``, kept
forever with the reason). Everything else is released and retried; the server deduplicates
on ``event_id``, so a resend after a lost acknowledgement is harmless ("at least once" on
the wire, "exactly once" in the store).

What a server answer means here (``classify``):

    200                         acknowledged: mark_sent the events the body lists
    408 429 5xx, no answer      transient: release, retry forever with backoff (Retry-After)
    413                         split the batch; a single event still too large is parked
    422                         park the events named in details[].index, resend the rest
    401 403 other 4xx           refused: release all, record last_error, back off long and
                                re-read the token file (an operator may put a new one in place)

Runs as ``hookshim forward`` (``forward_cli``: a daemon under systemd, or ``--once``) or
in-process as a ``ForwarderThread`` (``forward_thread``: single-host mode). The pure decisions
(``classify``, ``Backoff``, ``encode_batch`` ...) are in ``forward_decisions``.
"""
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from hookshim import __version__
from hookshim.forward_bundle import BundlePuller, bundle_report
from hookshim.forward_decisions import OK, Attempt, Backoff, classify, encode_batch, \
    invalid_indexes, retry_after
from hookshim.limits import HEARTBEAT_ERROR
from hookshim.spool import SPOOL_NAME, Spool, SpoolDamaged, sqlite3
from hookshim.spool_schema import is_corrupt
from hookshim.transport import TokenError, Transport, TransportError, describe

log = logging.getLogger("hookshim.forward")

INGEST_PATH = "/api/v1/ingest"
HEARTBEAT_PATH = "/api/v1/heartbeat"
META_LAST_ERROR = "last_error"
PRUNE_INTERVAL_S = 300.0     # housekeeping only; cheap (an indexed DELETE of sent rows)
REFUSED_BACKOFF_S = 300.0    # 401/403: nothing will change until an operator acts
TOKEN_POLL_S = 1.0           # ...but a new token file is noticed within this long


class Forwarder:
    """Moves events from one spool to one server; pulls the policy bundle; heartbeats.

    Not thread-safe; the spool connection is opened in ``run`` so a ``ForwarderThread``
    owns it in its own thread (sqlite3 connections belong to the thread that made them).
    """

    def __init__(self, config, *, timeout=30.0, max_backoff=60.0, lease_s=None,
                 refused_backoff=REFUSED_BACKOFF_S, transport=None, rng=random.random,
                 handoff=True):
        if not config.server_url:
            raise ValueError("server_url is not set in %s" % (config.path or "the config"))
        self.config = config
        self.transport = transport or Transport(config.server_url, config.token_file,
                                                config.ca_file, config.verify_tls, timeout)
        # The lease must outlive one request, or a restarted forwarder could take over a
        # batch still in flight (harmless — the server dedupes — but wasteful).
        self.lease_s = lease_s or max(60.0, 2 * timeout + 10)
        self.backoff = Backoff(base=min(0.5, max_backoff), cap=max_backoff, rng=rng)
        self.refused_backoff = refused_backoff
        self.stopping = threading.Event()
        # Hook calls hand their events to this process (hookshim/handoff.py) when the
        # config allows it; not for --once, which exits when drained.
        self.handoff = handoff and getattr(config, "handoff", True)
        self.handoff_server = None
        # The sender's and the hand-over's spool writes queue on this, not in SQLite's
        # sleep-and-poll busy handler (a hook call waits on the hand-over's commit).
        self._write_lock = threading.Lock()
        self.spool = None
        self.bundles = None
        # syslog_url: every event the server acknowledged also goes to syslog, before it is
        # marked sent; a syslog failure keeps the batch (both get it at least once).
        self.syslog = None
        if getattr(config, "syslog_url", None):
            from hookshim.syslog_sink import SyslogSink

            self.syslog = SyslogSink(config.syslog_url, config.syslog_facility)
        self._sender = None
        self._due = {"heartbeat": 0.0, "bundle": 0.0, "prune": 0.0}
        self._failing = None  # the last_error this forwarder wrote, cleared on success
        self.delivered = 0

    def stop(self):
        """Stop claiming; the batch in flight is finished (acknowledged or released)."""
        self.stopping.set()

    # -- lifecycle ------------------------------------------------------------------------

    def open(self):
        if self.spool is None:
            os.makedirs(self.config.state_dir, exist_ok=True)
            self._open_spool()
            previous = self.spool.get_meta(META_LAST_ERROR) or ""
            self._failing = None if previous.startswith("parked ") else previous or None
            self.bundles = BundlePuller(self.transport, self.spool, self.config.policy_bundle,
                                        signers=self.config.policy_signers)
            self._take_over()
            # One sender thread: HTTP round trips overlap the spool work (see ``step``).
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="hookshim-sender")
            if self.handoff:
                self._start_handoff()
        return self

    def _start_handoff(self):
        """Listen for hook calls' events (hookshim/handoff_server.py). A failure to listen
        is logged and costs nothing but speed: the calls write the spool themselves."""
        from hookshim.handoff_server import HandoffServer

        state_dir, max_bytes = self.config.state_dir, self.config.spool_max_bytes
        try:
            self.handoff_server = HandoffServer(
                state_dir, lambda: Spool(os.path.join(state_dir, SPOOL_NAME),
                                         max_bytes=max_bytes, busy_timeout_s=10.0,
                                         write_lock=self._write_lock))
        except OSError as exc:
            log.warning("cannot listen for hook calls (%s); they write the spool themselves",
                        exc)
            return
        self.handoff_server.start()

    def _open_spool(self):
        """Open the spool; a damaged one is reset here (spool_reset.py) and the reset event
        written at once, on behalf of this host, so the server learns of it first."""
        self.spool = Spool(os.path.join(self.config.state_dir, SPOOL_NAME),
                           max_bytes=self.config.spool_max_bytes, write_lock=self._write_lock)
        self._declare_reset()

    def _declare_reset(self):
        if self.spool.reset_info is not None:
            log.error("the spool was damaged: kept as %s, a fresh spool started after seq %s",
                      self.spool.reset_info["kept_as"], self.spool.reset_info["head_seq"])
        self.spool.declare_reset(self.config.host, {"version": __version__,
                                                    "hostname": os.uname().nodename,
                                                    "pid": os.getpid()})

    def _follow_spool(self):
        """Before each step: a hook call may have reset the spool (a new file at the path);
        or this connection finds the file damaged: reset it now."""
        if self.spool.reopen_if_replaced():
            log.warning("the spool was reset by a hook call; following the new file")
            self._declare_reset()

    def _recover(self, exc):
        log.error("the spool is damaged (%s); resetting it", exc)
        self.spool.close()
        self._open_spool()
        return Attempt("transient", 0.0, "spool damaged: %s" % exc)

    def _take_over(self):
        """Release batches a previous forwarder left locked (it was killed or crashed).

        One forwarder runs per spool, so at start every locked row is an orphan; sending it
        now rather than after its lease keeps delivery in seq order. If another forwarder
        did still hold it, the resend is answered ``duplicate``: harmless.
        """
        orphans = [e["event_id"] for e in self.spool.latest(limit=10**7, state="locked")]
        if orphans:
            self.spool.release(orphans)
            log.info("took over %d events left in flight by a previous forwarder", len(orphans))

    def close(self):
        if self.handoff_server is not None:
            self.handoff_server.stop()
            self.handoff_server = None
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None
        self.transport.close()
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def run(self, once=False):
        """Forward until ``stop()`` (daemon) or until the spool is drained (``once``).

        Returns an exit status: 0, or with ``once`` 1 when events are left unsent.
        """
        if once:
            self.handoff = False
        self.open()
        try:
            while not self.stopping.is_set():
                attempt = self.guarded_step()
                if once and attempt.kind != "ok":
                    break
                self._pause(attempt)
            if once:
                self.housekeeping(force=True, names=("heartbeat",))
            return 1 if once and self.spool.stats()["depth"] else 0
        finally:
            self.close()

    def _pause(self, attempt):
        if attempt.kind == "ok":
            self.backoff.reset()
        elif attempt.kind == "idle":
            self.stopping.wait(self.config.interval)
        elif attempt.kind == "transient":
            wait = attempt.wait if attempt.wait is not None else self.backoff.next()
            log.warning("delivery failed (%s); retrying in %.1fs", attempt.error, wait)
            self.stopping.wait(wait)
        else:
            log.error("server refused delivery (%s); events stay in the spool; retrying in"
                      " %.0fs or when the token file changes", attempt.error, self.refused_backoff)
            self._wait_for_operator(attempt.wait or self.refused_backoff)

    def _wait_for_operator(self, seconds):
        """Sleep ``seconds`` but wake early when the token file is replaced or edited."""
        before = _file_signature(self.config.token_file)
        deadline = time.monotonic() + seconds
        while not self.stopping.wait(min(TOKEN_POLL_S, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or _file_signature(self.config.token_file) != before:
                return

    # -- one step: claim, deliver ---------------------------------------------------------

    def guarded_step(self):
        """housekeeping + step, following or making a spool reset instead of dying on it."""
        try:
            self._follow_spool()
            self.housekeeping()
            return self.step()
        except (sqlite3.DatabaseError, SpoolDamaged) as exc:
            if not is_corrupt(exc):
                raise
            return self._recover(exc)

    def step(self):
        """Claim and deliver batches while the server keeps acknowledging and no periodic job
        is due. Returns the last Attempt (kind idle when there was nothing to send).

        Pipelined: while the server works on one batch, the next is claimed and encoded, and
        it is posted before the previous one is marked sent — so the spool's own work hides
        behind the server's. Only a plain 200 continues the pipeline; any other answer is
        handled on its own (the batch claimed ahead is released first, untouched).
        """
        batch = self._claim()
        if not batch:
            return Attempt("idle")
        batch, body = self._prepare(batch)
        pending = self._sender.submit(self._post, body)
        while True:
            ahead = self._claim() if not (self.stopping.is_set() or self._job_due()) else []
            if ahead:
                ahead, ahead_body = self._prepare(ahead)
            outcome = pending.result()
            if ahead and getattr(outcome, "status", None) == 200:
                pending = self._sender.submit(self._post, ahead_body)
                self._record(self._handle(batch, outcome))
                batch = ahead
                continue
            if ahead:
                self.spool.release([e["event_id"] for e in ahead])
            attempt = self._handle(batch, outcome)
            self._record(attempt)
            return attempt

    def _claim(self):
        return self.spool.claim(limit=self.config.batch_size, lease_s=self.lease_s)

    def _job_due(self):
        return time.monotonic() >= min(self._due.values())

    def deliver(self, batch):
        """POST ``batch``; on return every event in it is sent, parked, or released."""
        batch, body = self._prepare(batch)
        return self._handle(batch, self._post(body))

    def _prepare(self, batch):
        """Encode; events beyond batch_max_bytes go back to ready for the next batch."""
        body, n = encode_batch(batch, self.config.batch_max_bytes)
        if n < len(batch):
            self.spool.release([e["event_id"] for e in batch[n:]])
            batch = batch[:n]
        return batch, body

    def _post(self, body):
        """The HTTP round trip (runs on the sender thread): a Response, or the exception."""
        try:
            return self.transport.request("POST", INGEST_PATH, body)
        except (TokenError, TransportError) as exc:
            return exc

    def _handle(self, batch, outcome):
        """Apply the server's answer to the spool (see the table in the module docstring)."""
        if isinstance(outcome, TokenError):
            return self._hold(batch, Attempt("refused", None, str(outcome)))
        if isinstance(outcome, TransportError):
            return self._hold(batch, Attempt("transient", None, str(outcome)))
        kind = classify(outcome.status)
        if kind == "ok":
            return self._acknowledge(batch, outcome)
        if kind == "too_large":
            return self._split(batch, describe(outcome))
        if kind == "invalid":
            return self._park_invalid(batch, outcome)
        return self._hold(batch, Attempt(kind, retry_after(outcome.headers), describe(outcome)))

    def _hold(self, batch, attempt):
        self.spool.release([e["event_id"] for e in batch])
        return attempt

    def _acknowledge(self, batch, resp):
        """Mark sent exactly the events the server says it stored (or already had)."""
        body = resp.json()
        results = body.get("results") if isinstance(body, dict) else None
        acked = {r.get("event_id") for r in results or ()
                 if isinstance(r, dict) and r.get("status") in ("stored", "duplicate")}
        done = [e["event_id"] for e in batch if e["event_id"] in acked]
        rest = [e["event_id"] for e in batch if e["event_id"] not in acked]
        if self.syslog is not None and done:
            try:
                self.syslog.send([e for e in batch if e["event_id"] in acked])
            except OSError as exc:   # the server has them (deduplicated on resend): retry
                return self._hold(batch, Attempt("transient", None, "syslog: %s" % exc))
        self.spool.mark_sent(done)
        self.delivered += len(done)
        if rest:
            self.spool.release(rest)
            return Attempt("transient", None, "server acknowledged %d of %d events"
                           % (len(done), len(batch)))
        for problem in (body.get("chain_problems") or [])[:5]:
            log.warning("server reports a chain problem: %s", problem)
        return OK

    def _split(self, batch, error):
        """413: halve the batch until it fits; one event that never fits is parked."""
        if len(batch) == 1:
            self.spool.park(batch[0]["event_id"], "server refused as too large: " + error)
            return OK
        half = len(batch) // 2
        first = self.deliver(batch[:half])
        if first.kind != "ok":
            return self._hold(batch[half:], first)
        return self.deliver(batch[half:])

    def _park_invalid(self, batch, resp):
        """422: park the events the server named, resend the others."""
        bad = invalid_indexes(resp, len(batch))
        if not bad:  # no usable details: isolate the culprit by halving
            return self._split_invalid(batch, describe(resp))
        for i, message in sorted(bad.items()):
            log.error("server rejected event %s (seq %s): %s; parked",
                      batch[i]["event_id"], batch[i].get("seq"), message)
            self.spool.park(batch[i]["event_id"], "server rejected: " + message)
        rest = [e for i, e in enumerate(batch) if i not in bad]
        return self.deliver(rest) if rest else OK

    def _split_invalid(self, batch, error):
        if len(batch) == 1:
            self.spool.park(batch[0]["event_id"], "server rejected: " + error)
            return OK
        return self._split(batch, error)

    def _record(self, attempt):
        """Keep the spool's last_error in step: set on failure, cleared on the next success
        (but a "parked ..." note written by ``Spool.park`` stays for the operator)."""
        if attempt.kind in ("transient", "refused"):
            if attempt.error != self._failing:
                self.spool.set_meta(META_LAST_ERROR, attempt.error)
                self._failing = attempt.error
        elif attempt.kind == "ok" and self._failing:
            if self.spool.get_meta(META_LAST_ERROR) == self._failing:
                self.spool.set_meta(META_LAST_ERROR, None)
            self._failing = None

    # -- housekeeping: heartbeat, bundle, prune --------------------------------------------

    def housekeeping(self, force=False, names=("heartbeat", "bundle", "prune")):
        """Run the periodic jobs that are due. Their failures never stop delivery."""
        jobs = {"heartbeat": (self.heartbeat, self.config.heartbeat_interval),
                "bundle": (self.pull_bundle, self.config.bundle_interval),
                "prune": (self.prune, PRUNE_INTERVAL_S)}
        now = time.monotonic()
        for name in names:
            job, interval = jobs[name]
            if force or now >= self._due[name]:
                self._due[name] = now + interval
                try:
                    job()
                except Exception as exc:
                    log.warning("%s failed: %s", name, exc)

    def heartbeat(self):
        """Tell the server how this host's spool is doing (shown in the hosts API)."""
        st = self.spool.stats()
        resp = self.transport.post_json(HEARTBEAT_PATH, {
            "host": self.config.host, "shim_version": __version__,
            "spool_depth": st["depth"], "oldest_unsent_age_s": st["oldest_unsent_age_s"],
            "parked": st["parked"], "last_seq": st["last_seq"],
            "last_error": (st["last_error"] or "")[:HEARTBEAT_ERROR] or None,
            "chain_head": self.spool.acked_head(),
            # the libvirt install found (or was told): the server's host page shows it
            "libvirt_version": getattr(self.config, "libvirt_version", None),
            "libvirt_daemon": getattr(self.config, "libvirt_daemon", None),
            **bundle_report(self.spool, self.config.policy_signers)})
        if resp.status != 200:
            log.warning("heartbeat not accepted: %s", describe(resp))

    def pull_bundle(self):
        """Fetch the policy bundle if it changed (errors keep the last good one)."""
        return self.bundles.pull()

    def prune(self):
        """Delete sent rows past retention / beyond the row cap; never an unsent one."""
        n = self.spool.prune(self.config.sent_retention, self.config.sent_max_rows)
        if n:
            log.info("pruned %d sent events from the spool", n)


def _file_signature(path):
    try:
        st = os.stat(path)
    except (OSError, TypeError):
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
