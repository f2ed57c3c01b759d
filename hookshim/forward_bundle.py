"""The policy bundle on the host: fetched by the forwarder, read by the hook.

``BundlePuller.pull`` asks the server with ``If-None-Match`` (the ETag kept in the spool's
meta table), checks the answer the way the hook's own loader will (``hookshim.policy``),
and replaces the bundle file atomically. On any error — no answer, an HTTP error, a corrupt
or truncated download, a bundle the hook could not read — the last good bundle stays in
place and the reason goes to the spool's meta ``bundle_error`` (shown by ``hookshim status``).

Imported only by the forwarder, never on the hook path.
"""
import json
import logging
import os

from hookshim.transport import TokenError, TransportError, describe

log = logging.getLogger("hookshim.forward")

BUNDLE_PATH = "/api/v1/policy-bundle"
META_BUNDLE_ETAG = "bundle_etag"
META_BUNDLE_ERROR = "bundle_error"


class BundleRejected(Exception):
    """The server's bundle answer is unusable; the last good bundle stays in place."""


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
    """GET the policy bundle with If-None-Match; keep the last good one on any error."""

    def __init__(self, transport, spool, path):
        self.transport, self.spool, self.path = transport, spool, path

    def pull(self):
        """Returns "updated", "unchanged" or "error" (the reason goes to meta bundle_error)."""
        try:
            result = self._pull()
        except (TransportError, TokenError, BundleRejected, OSError) as exc:
            log.warning("policy bundle not updated, keeping the last good one: %s", exc)
            self.spool.set_meta(META_BUNDLE_ERROR, str(exc))
            return "error"
        if self.spool.get_meta(META_BUNDLE_ERROR) is not None:
            self.spool.set_meta(META_BUNDLE_ERROR, None)
        return result

    def _pull(self):
        etag = self.spool.get_meta(META_BUNDLE_ETAG)
        # Without the file, the ETag would only get a 304 for a bundle we do not have.
        headers = {"If-None-Match": etag} if etag and os.path.exists(self.path) else {}
        resp = self.transport.request("GET", BUNDLE_PATH, headers=headers)
        if resp.status == 304:
            return "unchanged"
        if resp.status != 200:
            raise BundleRejected(describe(resp))
        bundle = parse_bundle(resp.body)
        write_atomic(self.path, resp.body, check=_hook_can_load)
        etag = resp.headers.get("etag") or '"%s"' % bundle["version"]
        self.spool.set_meta(META_BUNDLE_ETAG, etag)
        log.info("policy bundle %s installed at %s", bundle["version"], self.path)
        return "updated"
