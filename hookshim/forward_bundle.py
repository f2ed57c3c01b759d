"""The policy bundle on the host: fetched by the forwarder, read by the hook.

``BundlePuller.pull`` asks the server with ``If-None-Match`` (the ETag kept in the spool's
meta table), checks the answer the way the hook's own loader will (``hookshim.policy``),
and replaces the bundle file atomically. On any error — no answer, an HTTP error, a corrupt
or truncated download, a bundle the hook could not read — the last good bundle stays in
place and the reason goes to the spool's meta ``bundle_error`` (shown by ``hookshim status``).

With signers pinned (config ``policy_signers``) a bundle is installed only when an operator
key in that allowed_signers file signed exactly its bytes and its serial is not older than the
installed one (hookshim/bundle_sig.py); a refusal also goes to meta ``bundle_refused``, which
``hookshim status`` and the heartbeat report. Without signers every bundle is accepted, as
before signing existed, and both say so (``bundle_warning``).

Imported only by the forwarder, never on the hook path.
"""
import json
import logging
import os

from hookshim import bundle_sig
from hookshim.transport import TokenError, TransportError, describe

log = logging.getLogger("hookshim.forward")

BUNDLE_PATH = "/api/v1/policy-bundle"
META_BUNDLE_ETAG = "bundle_etag"
META_BUNDLE_ERROR = "bundle_error"
META_BUNDLE_REFUSED = "bundle_refused"   # why the last bundle offered was not trusted
META_BUNDLE_SIGNER = "bundle_signer"     # who signed the installed bundle (unset: unsigned)
META_BUNDLE_SERIAL = "bundle_serial"     # highest serial installed: the rollback floor
META_SIGNED_VERSION = "bundle_signed_version"  # the version installed with that serial


class BundleRejected(Exception):
    """The server's bundle answer is unusable; the last good bundle stays in place."""


class BundleUntrusted(BundleRejected):
    """Not signed by a pinned signer, or a rollback: never enforced, reported as refused."""


def parse_bundle(body):
    """The downloaded bundle as a dict, or BundleRejected: JSON object with version + rules."""
    try:
        bundle = json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise BundleRejected("bundle is not JSON: %s" % exc) from None
    if not isinstance(bundle, dict) or "version" not in bundle or not bundle["version"]:
        raise BundleRejected("bundle has no version")
    if not isinstance(bundle.get("rules"), list):
        raise BundleRejected("bundle has no rules list")
    return bundle


def write_atomic(path, data, check=None):
    """Replace ``path`` with ``data`` so a reader sees the old file or the new one, whole.

    ``check(tmp_path)`` may raise to refuse the new file before it replaces the old one.
    """
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.chmod(tmp, 0o644)      # the hook (root, or the libvirt user) only reads it
        if check:
            check(tmp)
        os.replace(tmp, path)     # atomic on POSIX: no reader ever sees a partial bundle
    except BaseException:
        os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)  # the rename itself survives a power cut
    finally:
        os.close(dfd)


def _hook_can_load(path):
    """Refuse a bundle the hook's own loader would refuse (it would then fail open)."""
    from hookshim import policy

    try:
        if policy.load_bundle(path) is None:
            raise BundleRejected("bundle vanished while being checked")
    except policy.BundleError as exc:
        raise BundleRejected(str(exc)) from None


class BundlePuller:
    """GET the policy bundle with If-None-Match; keep the last good one on any error.

    ``signers``: the pinned allowed_signers file, or None to accept unsigned bundles.
    """

    def __init__(self, transport, spool, path, signers=None, ssh_keygen="ssh-keygen",
                 verify_timeout=bundle_sig.VERIFY_TIMEOUT_S):
        self.transport, self.spool, self.path = transport, spool, path
        self.signers, self.ssh_keygen, self.verify_timeout = signers, ssh_keygen, verify_timeout

    def pull(self):
        """Returns "updated", "unchanged" or "error" (the reason goes to meta bundle_error)."""
        try:
            result = self._pull()
        except (TransportError, TokenError, BundleRejected, OSError) as exc:
            log.warning("policy bundle not updated, keeping the last good one: %s", exc)
            self.spool.set_meta(META_BUNDLE_ERROR, str(exc))
            if isinstance(exc, BundleUntrusted):
                self.spool.set_meta(META_BUNDLE_REFUSED, str(exc))
            return "error"
        for key in (META_BUNDLE_ERROR, META_BUNDLE_REFUSED):
            if self.spool.get_meta(key) is not None:
                self.spool.set_meta(key, None)
        return result

    def _pull(self):
        resp = self.transport.request("GET", BUNDLE_PATH, headers=self._conditional())
        if resp.status == 304:
            return "unchanged"
        if resp.status != 200:
            raise BundleRejected(describe(resp))
        signer = self._signer(resp)
        bundle = parse_bundle(resp.body)
        if self.signers:
            self._check_rollback(bundle)
        write_atomic(self.path, resp.body, check=_hook_can_load)
        self._installed(bundle, signer, resp.headers.get("etag") or '"%s"' % bundle["version"])
        return "updated"

    def _conditional(self):
        """If-None-Match, unless the file is gone or was installed before signers were pinned
        (a 304 would then keep an unverified bundle without ever saying so)."""
        etag = self.spool.get_meta(META_BUNDLE_ETAG)
        if not etag or not os.path.exists(self.path):
            return {}
        if self.signers and self.spool.get_meta(META_BUNDLE_SIGNER) is None:
            return {}
        return {"If-None-Match": etag}

    def _signer(self, resp):
        """The pinned identity that signed the body; None when no signers are pinned."""
        if not self.signers:
            return None
        try:
            armored = bundle_sig.decode_signature(resp.headers.get(
                bundle_sig.SIGNATURE_HEADER.lower()))
            return bundle_sig.verify(resp.body, armored, self.signers, self.ssh_keygen,
                                     self.verify_timeout)
        except bundle_sig.SignatureRefused as exc:
            raise BundleUntrusted("bundle refused: %s" % exc) from None

    def _check_rollback(self, bundle):
        last = self.spool.get_meta(META_BUNDLE_SERIAL)
        problem = bundle_sig.rollback_problem(bundle, int(last) if last else None,
                                              self.spool.get_meta(META_SIGNED_VERSION))
        if problem:
            raise BundleUntrusted("bundle refused: %s" % problem)

    def _installed(self, bundle, signer, etag):
        self.spool.set_meta(META_BUNDLE_ETAG, etag)
        self.spool.set_meta(META_BUNDLE_SIGNER, signer)
        if signer is not None:  # kept here, not read from the file: deleting it reopens nothing
            self.spool.set_meta(META_BUNDLE_SERIAL, str(bundle["serial"]))
            self.spool.set_meta(META_SIGNED_VERSION, bundle["version"])
        log.info("policy bundle %s installed at %s (%s)", bundle["version"], self.path,
                 "signed by %s" % signer if signer else "unsigned")


def bundle_report(spool, signers):
    """What the heartbeat and ``hookshim status`` say about trust in the policy bundle."""
    get = spool.get_meta if spool is not None else (lambda key: None)
    serial = get(META_BUNDLE_SERIAL)
    return {"bundle_signer": get(META_BUNDLE_SIGNER), "bundle_refused": get(META_BUNDLE_REFUSED),
            "bundle_serial": int(serial) if serial else None,
            "bundle_warning": None if signers else bundle_sig.UNPINNED_WARNING}
