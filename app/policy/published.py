"""Operator-signed bundles: the server relays them, it never signs (it holds no key).

The workflow (docs/policies.md#signed-bundles):

    hookaudit policy compile DIR --serial N -o bundle.json      # reviewed policies -> bytes
    ssh-keygen -Y sign -f operator_key -n hookaudit-policy bundle.json   # offline -> .sig
    hookaudit policy publish bundle.json [DIR] --signature bundle.json.sig

``publish`` places both files in the policy directory (PUBLISHED_NAME and its SIG_SUFFIX);
while they are there GET /api/v1/policy-bundle serves exactly those bytes, with the signature
in a header (hookshim/bundle_sig.py), instead of compiling the YAML itself.
"""
import json
import os
import tempfile
from pathlib import Path

from app.policy.compiler import Finding, bundle_version, compile_dir
from app.policy.service import BundleUnavailable, cache_for, served_bundle
from hookshim import bundle_sig
from hookshim.policy import BundleError, check_bundle

PUBLISHED_NAME = "policy-bundle.json"
SIG_SUFFIX = ".sig"
MAX_TORN_READS = 3


class PublishError(Exception):
    """The bundle or its signature cannot be published; nothing was changed."""


def with_serial(bundle: dict, serial: int) -> dict:
    """The bundle with its rollback serial (signed with it), version recomputed."""
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
        raise PublishError("the serial is a whole number >= 0")
    stamped = {k: v for k, v in bundle.items() if k != "version"} | {"serial": serial}
    return stamped | {"version": bundle_version(stamped)}


def bundle_to_serve(settings) -> tuple[str, bytes, str | None]:
    """(version, bytes, signature header value or None): the published signed bundle when there
    is one, else the bundle compiled from the YAML (unsigned). BundleUnavailable on errors."""
    published = read_published(settings.policy_dir)
    if published is not None:
        return published
    version, data = served_bundle(cache_for(settings))
    return version, data, None


def read_published(policy_dir) -> tuple[str, bytes, str] | None:
    """The published (version, bytes, signature header) of ``policy_dir``, None if none."""
    if not policy_dir:
        return None
    path = Path(policy_dir) / PUBLISHED_NAME
    for _ in range(MAX_TORN_READS):  # publish replaces two files: never pair old with new
        try:
            sig, data, sig_again = _read(path, SIG_SUFFIX), _read(path), _read(path, SIG_SUFFIX)
        except FileNotFoundError as exc:
            if not path.exists() and not Path(str(path) + SIG_SUFFIX).exists():
                return None
            raise _unavailable(path, f"published bundle incomplete: {exc.filename} missing")
        if sig == sig_again:
            break
    try:
        bundle = json.loads(data)
    except ValueError as exc:
        raise _unavailable(path, f"published bundle is not JSON: {exc}") from None
    return bundle.get("version", ""), data, bundle_sig.encode_signature(sig)


def _read(path: Path, suffix: str = "") -> bytes:
    return Path(str(path) + suffix).read_bytes()


def _unavailable(path: Path, message: str) -> BundleUnavailable:
    return BundleUnavailable([Finding("error", str(path), None, message)])


def publish(bundle_path, signature_path, policy_dir, allowed_signers=None) -> dict:
    """Check and place a signed bundle in ``policy_dir``; returns the bundle. PublishError."""
    data, sig = _read_input(bundle_path), _read_input(signature_path)
    bundle = _checked_bundle(data, bundle_path)
    try:
        armored = bundle_sig.decode_signature(bundle_sig.encode_signature(sig))
        if allowed_signers:
            bundle_sig.verify(data, armored, str(allowed_signers))
    except bundle_sig.SignatureRefused as exc:
        raise PublishError(f"{signature_path}: {exc}") from None
    _check_matches_policies(bundle, policy_dir)
    _check_newer(bundle, Path(policy_dir) / PUBLISHED_NAME)
    target = Path(policy_dir) / PUBLISHED_NAME
    _write_atomic(Path(str(target) + SIG_SUFFIX), sig)
    _write_atomic(target, data)
    return bundle


def _read_input(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PublishError(f"cannot read {path}: {exc.strerror}") from None


def _checked_bundle(data: bytes, where) -> dict:
    try:
        bundle = json.loads(data)
        check_bundle(bundle, str(where))
    except ValueError as exc:
        raise PublishError(f"{where}: not a bundle: {exc}") from None
    except BundleError as exc:
        raise PublishError(str(exc)) from None
    if bundle_version(bundle) != bundle["version"]:
        raise PublishError(f"{where}: version does not match the content (edited by hand?)")
    if problem := bundle_sig.rollback_problem(bundle, None, None):
        raise PublishError(f"{where}: {problem}")
    return bundle


def _check_matches_policies(bundle: dict, policy_dir) -> None:
    """The dashboard shows the YAML of the policy directory: refuse a bundle of other rules."""
    compiled, _ = compile_dir(policy_dir)
    if compiled is None:
        raise PublishError(f"{policy_dir}: the policies do not compile (hookaudit policy lint)")
    if with_serial(compiled, bundle["serial"])["version"] != bundle["version"]:
        raise PublishError(f"the bundle was not compiled from the policies in {policy_dir} "
                           "(update the directory to the reviewed policies first)")


def _check_newer(bundle: dict, current: Path) -> None:
    try:
        old = json.loads(current.read_bytes())
    except (OSError, ValueError):
        return
    if not isinstance(old, dict):
        return
    last = old.get("serial")
    replaced = old.get("version") != bundle["version"]
    if isinstance(last, int) and bundle["serial"] <= last and replaced:
        raise PublishError(f"serial {bundle['serial']} is not above the published {last}: hosts "
                           "would refuse it as a rollback")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the server never serves a half-written bundle after a crash
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
