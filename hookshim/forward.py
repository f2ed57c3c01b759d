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

Runs as ``hookshim forward`` (a daemon under systemd, or ``--once``) or in-process as a
``ForwarderThread`` (single-host mode: the server forwards its own host's spool).
"""
import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from hookshim import __version__
from hookshim.forward_bundle import BundlePuller, bundle_report
from hookshim.transport import TokenError, Transport, TransportError, describe

log = logging.getLogger("hookshim.forward")

INGEST_PATH = "/api/v1/ingest"
HEARTBEAT_PATH = "/api/v1/heartbeat"
META_LAST_ERROR = "last_error"
PRUNE_INTERVAL_S = 300.0     # housekeeping only; cheap (an indexed DELETE of sent rows)
REFUSED_BACKOFF_S = 300.0    # 401/403: nothing will change until an operator acts
TOKEN_POLL_S = 1.0           # ...but a new token file is noticed within this long
MAX_RETRY_AFTER_S = 3600.0   # a server's Retry-After is honoured, within reason


# ---------------------------------------------------------------- pure decisions

def classify(status):
    """What an HTTP status means for a batch: ok | transient | too_large | invalid | refused."""
    if status == 200:
        return "ok"
    if status in (408, 429) or status >= 500:
        return "transient"
    if status == 413:
        return "too_large"
    if status == 422:
        return "invalid"
    return "refused"


def retry_after(headers):
    """Seconds from a Retry-After header (delta-seconds or HTTP date), None when absent/bad."""
    value = (headers or {}).get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class Backoff:
    """Exponential backoff with full jitter: sleep uniform(0, min(cap, base * 2**n)).

    Full jitter spreads a fleet's retries after a server outage, so a thousand hosts do not
    reconnect in lock-step the moment it comes back.
    """

    def __init__(self, base=0.5, cap=60.0, rng=random.random):
        self.base, self.cap, self.rng, self.attempt = base, cap, rng, 0

    def next(self):
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return self.rng() * ceiling

    def reset(self):
        self.attempt = 0


class Attempt:
    """Result of one delivery attempt: kind (ok|transient|refused), optional wait, error."""

    __slots__ = ("kind", "wait", "error")

    def __init__(self, kind, wait=None, error=None):
        self.kind, self.wait, self.error = kind, wait, error

    def __repr__(self):
        return "Attempt(%s, wait=%s, error=%r)" % (self.kind, self.wait, self.error)


OK = Attempt("ok")


def invalid_indexes(resp, count):
    """{index: message} from a 422 body's error.details (the contract's shape)."""
    body = resp.json()
    err = body.get("error") if isinstance(body, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    found = {}
    for d in details if isinstance(details, list) else ():
        i = d.get("index") if isinstance(d, dict) else None
        if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count:
            msg = "%s: %s" % (d.get("field", "?"), d.get("message", "invalid"))
            found[i] = found[i] + "; " + msg if i in found else msg
    return found


def encode_batch(events, max_bytes):
    """Encode events for POST, as many as fit in ``max_bytes`` (at least one).

    Returns (body bytes, number of events included).
    """
    parts, size = [], 12
    for ev in events:
        part = json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if parts and size + len(part) + 1 > max_bytes:
            break
        parts.append(part)
        size += len(part) + 1
    return b'{"events":[' + b",".join(parts) + b"]}", len(parts)


# ---------------------------------------------------------------- the forwarder

class Forwarder:
    """Moves events from one spool to one server; pulls the policy bundle; heartbeats.

    Not thread-safe; the spool connection is opened in ``run`` so a ``ForwarderThread``
    owns it in its own thread (sqlite3 connections belong to the thread that made them).
    """

    def __init__(self, config, *, timeout=30.0, max_backoff=60.0, lease_s=None,
                 refused_backoff=REFUSED_BACKOFF_S, transport=None, rng=random.random):
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
        self.spool = None
        self.bundles = None
        self._sender = None
        self._due = {"heartbeat": 0.0, "bundle": 0.0, "prune": 0.0}
        self._failing = None  # the last_error this forwarder wrote, cleared on success
        self.delivered = 0

    def stop(self):
        """Stop claiming; the batch in flight is finished (acknowledged or released)."""
        self.stopping.set()

    # -- lifecycle ------------------------------------------------------------------------

    def open(self):
        from hookshim.spool import Spool

        if self.spool is None:
            os.makedirs(self.config.state_dir, exist_ok=True)
            self.spool = Spool(os.path.join(self.config.state_dir, "spool.db"),
                               max_bytes=self.config.spool_max_bytes)
            previous = self.spool.get_meta(META_LAST_ERROR) or ""
            self._failing = None if previous.startswith("parked ") else previous or None
            self.bundles = BundlePuller(self.transport, self.spool, self.config.policy_bundle,
                                        signers=self.config.policy_signers)
            self._take_over()
            # One sender thread: HTTP round trips overlap the spool work (see ``step``).
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="hookshim-sender")
        return self

    def _take_over(self):
        """Release batches a previous forwarder left locked (it was killed or crashed).

        One forwarder runs per spool, so at start every locked row is an orphan; sending it
        now rather than after its lease keeps delivery in seq order. If another forwarder
        did still hold it, the resend is answered ``duplicate``: harmless.
        """
        orphans = [e["event_id"] for e in self.spool.list(limit=10**7, state="locked")]
        if orphans:
            self.spool.release(orphans)
            log.info("took over %d events left in flight by a previous forwarder", len(orphans))

    def close(self):
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
        self.open()
        try:
            while not self.stopping.is_set():
                self.housekeeping()
                attempt = self.step()
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
            "parked": st["parked"], "last_seq": st["last_seq"], "last_error": st["last_error"],
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


# ---------------------------------------------------------------- ways to run it

class ForwarderThread(threading.Thread):
    """The forwarder inside another process — single-host mode.

    The server (or the demo) runs one for the host it lives on, so nobody has to start
    ``hookshim forward`` by hand::

        fwd = ForwarderThread(load_config("/etc/hookshim/hookshim.conf"))
        fwd.start()
        ...
        fwd.stop()   # finishes or releases the batch in flight, then joins
    """

    def __init__(self, config, **forwarder_kw):
        super().__init__(name="hookshim-forwarder", daemon=True)
        if isinstance(config, (str, os.PathLike)):
            from hookshim.config import load_config

            config = load_config(os.fspath(config))
        self.forwarder = Forwarder(config, **forwarder_kw)

    def run(self):
        try:
            self.forwarder.run()
        except Exception:
            log.exception("forwarder thread stopped")

    def stop(self, timeout=None):
        self.forwarder.stop()
        if self.is_alive():
            self.join(timeout)


def local_forwarder_starter(config, **forwarder_kw):
    """A starter for the server's ``app.state.startup_hooks``: runs a ForwarderThread for the
    server's own host while the app runs, and returns the callable that stops it."""
    def start(app=None):
        thread = ForwarderThread(config, **forwarder_kw)
        thread.start()
        return lambda: thread.stop(timeout=forwarder_kw.get("timeout", 30.0) + 5)
    return start


def parse_args(argv):
    p = argparse.ArgumentParser(prog="hookshim forward",
                                description="Ship the spool to the server; fetch the policy "
                                            "bundle.")
    p.add_argument("--once", action="store_true",
                   help="drain what is spooled now, pull the bundle, heartbeat, then exit"
                        " (exit 1 if events are left unsent)")
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout, seconds")
    p.add_argument("--max-backoff", type=float, default=60.0,
                   help="cap of the retry backoff for transient errors, seconds")
    p.add_argument("--refused-backoff", type=float, default=REFUSED_BACKOFF_S,
                   help="wait after 401/403 (a changed token file ends it early), seconds")
    p.add_argument("--lease", type=float, default=None,
                   help="claim lease, seconds (default max(60, 2*timeout+10))")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(list(argv))


def warn_if_token_exposed(token_file):
    """The token lets anyone write this host's audit trail: it should be mode 0600."""
    try:
        mode = os.stat(token_file).st_mode & 0o777
    except (OSError, TypeError):
        return None
    if mode & 0o077:
        log.warning("token_file %s has mode %03o: anyone who can read it can write this host's "
                    "audit trail; chmod 600 it", token_file, mode)
    return mode


def main(config_path, argv=()):
    """``hookshim forward``: daemon until SIGTERM/SIGINT (then exit 0), or ``--once``."""
    from hookshim.config import ConfigError, load_config

    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="hookshim forward: %(levelname)s %(message)s")
    try:
        config = load_config(config_path)
        fwd = Forwarder(config, timeout=args.timeout, max_backoff=args.max_backoff,
                        lease_s=args.lease, refused_backoff=args.refused_backoff)
    except (ConfigError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: fwd.stop())
    warn_if_token_exposed(config.token_file)
    log.info("forwarding %s to %s", config.host, config.server_url)
    status = fwd.run(once=args.once)
    log.info("stopped; %d events delivered", fwd.delivered)
    return status


def install_unit(config_path, unit_dir="/etc/systemd/system", python=None, out=None):
    """Write the systemd unit for ``hookshim forward --config <config_path>``; print the
    systemctl commands to start it. Returns the unit's path."""
    from hookshim.systemd import install_unit as _install

    return _install(config_path, unit_dir=unit_dir, python=python, out=out)


if __name__ == "__main__":
    _p = argparse.ArgumentParser(add_help=False)
    _p.add_argument("--config", default="/etc/hookshim/hookshim.conf")
    _known, _rest = _p.parse_known_args()
    sys.exit(main(_known.config, _rest))
