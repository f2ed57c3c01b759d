"""Operator signatures on policy bundles, checked by the forwarder with OpenSSH's ssh-keygen.

    signer = verify(body, signature, allowed_signers)   # or SignatureRefused(reason)
    problem = rollback_problem(bundle, last_serial, last_version)

The server only relays a bundle and its signature; the key that signs lives with the operators
(``ssh-keygen -Y sign -n hookaudit-policy``), and the host pins who may sign in an OpenSSH
``allowed_signers`` file (``hookshim install --policy-signers FILE``). So whoever controls the
server can withhold bundles but never make a host enforce one no operator signed.

Stdlib only; runs in the forwarder (off the hook path), never in the hook: ssh-keygen costs a
fork and milliseconds, and gets a short timeout so a hung one never stalls delivery.
"""
import base64
import binascii
import os
import shutil
import subprocess
import tempfile

NAMESPACE = "hookaudit-policy"    # -n: a signature made for anything else never verifies here
SIGNATURE_HEADER = "X-Hookaudit-Policy-Signature"  # base64 of the armored SSH signature
ARMOR_BEGIN = b"-----BEGIN SSH SIGNATURE-----"
VERIFY_TIMEOUT_S = 10.0           # ssh-keygen answers in milliseconds; more means it is stuck
MAX_SIGNATURE_BYTES = 16384       # an RSA-16384 signature is ~3 KiB armored
UNPINNED_WARNING = ("unsigned bundles accepted: no signers pinned "
                    "(hookshim install --policy-signers FILE)")


class SignatureRefused(Exception):
    """The bundle is not signed by a pinned signer (or that cannot be checked): never enforced."""


def decode_signature(header_value):
    """The armored signature carried (base64) in SIGNATURE_HEADER; SignatureRefused if absent."""
    if not header_value:
        raise SignatureRefused("bundle is unsigned (the server sent no %s)" % SIGNATURE_HEADER)
    if len(header_value) > MAX_SIGNATURE_BYTES * 2:
        raise SignatureRefused("bundle signature is too large")
    try:
        armored = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRefused("bundle signature header is not base64") from None
    if not armored.lstrip().startswith(ARMOR_BEGIN):
        raise SignatureRefused("bundle signature is not an SSH signature (%s)"
                               % ARMOR_BEGIN.decode())
    return armored


def encode_signature(armored):
    """The header value for an armored signature (the server's side of decode_signature)."""
    return base64.b64encode(armored).decode("ascii")


def verify(body, armored, allowed_signers, ssh_keygen="ssh-keygen", timeout=VERIFY_TIMEOUT_S):
    """The identity (from ``allowed_signers``) whose key signed exactly ``body`` for NAMESPACE.

    Raises SignatureRefused with a one-line reason otherwise: unknown key, other bytes, other
    namespace, an expired signer, ssh-keygen missing, failing or past ``timeout``.
    """
    if not os.access(allowed_signers, os.R_OK):
        raise SignatureRefused("allowed signers file %s is not readable" % allowed_signers)
    workdir = tempfile.mkdtemp(prefix="hookshim-sig.")  # 0700: nobody swaps the file under us
    try:
        sig = os.path.join(workdir, "bundle.sig")
        with open(sig, "wb") as f:
            f.write(armored)
        for identity in _principals(sig, allowed_signers, ssh_keygen, timeout):
            ok, said = _run([ssh_keygen, "-Y", "verify", "-f", allowed_signers, "-I", identity,
                             "-n", NAMESPACE, "-s", sig], body, timeout)
            if ok:
                return identity
        raise SignatureRefused("bad signature: %s" % (said or "ssh-keygen -Y verify failed"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _principals(sig, allowed_signers, ssh_keygen, timeout):
    """The identities allowed_signers gives the signing key (find-principals: OpenSSH >= 8.2)."""
    ok, said = _run([ssh_keygen, "-Y", "find-principals", "-f", allowed_signers, "-s", sig],
                    b"", timeout)
    names = [line.strip() for line in said.splitlines() if line.strip()] if ok else []
    if not names:
        raise SignatureRefused("signed by a key not in %s%s"
                               % (allowed_signers, " (%s)" % said if said and not ok else ""))
    return names


def _run(argv, stdin, timeout):
    """(succeeded, its stdout or last stderr line); SignatureRefused when it cannot answer."""
    try:
        done = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)
    except FileNotFoundError:
        raise SignatureRefused("cannot check the signature: %s not found (install the OpenSSH "
                               "client)" % argv[0]) from None
    except subprocess.TimeoutExpired:  # run() has killed it already
        raise SignatureRefused("cannot check the signature: %s did not answer within %gs"
                               % (argv[0], timeout)) from None
    except OSError as exc:
        raise SignatureRefused("cannot check the signature: %s: %s" % (argv[0], exc)) from None
    if done.returncode == 0:
        return True, done.stdout.decode("utf-8", "replace")
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return False, lines[-1] if lines else "exit status %d" % done.returncode


def rollback_problem(bundle, last_serial, last_version):
    """Why a signed ``bundle`` must not replace the last signed one (None: it may).

    The serial is inside the signed bytes, so an old signed bundle replayed by the server is
    refused; an equal serial is allowed only for the very same bundle (a re-download).
    """
    serial = bundle.get("serial")
    if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
        return "signed bundle has no serial (compile it with --serial N)"
    if last_serial is None:
        return None
    if serial < last_serial:
        return "rollback: bundle serial %d is older than the installed %d" % (serial, last_serial)
    if serial == last_serial and bundle.get("version") != last_version:
        return ("rollback: bundle serial %d is already installed with another version"
                % serial)
    return None


def read_signers(path):
    """The non-comment lines of an allowed_signers file; ValueError says what is wrong."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError("cannot read %s: %s" % (path, exc)) from None
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError("%s names no signer (OpenSSH allowed_signers format: "
                         "'identity ssh-ed25519 AAAA...')" % path)
    for number, line in enumerate(lines, 1):
        if not any(_is_key_type(word) for word in line.split()[1:]):
            raise ValueError("%s: signer %d has no public key: %r" % (path, number, line[:80]))
    return lines


def _is_key_type(word):
    return (word.startswith(("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"))
            and "=" not in word)


SIGNERS_NAME = "allowed_signers"


def signers_problem(path):
    """None when ``path`` is unset or names at least one signer, else why not (for install)."""
    if not path:
        return None
    try:
        read_signers(path)
    except ValueError as exc:
        return "--policy-signers: %s" % exc
    return None


def pin_signers(source, state_dir):
    """Copy an allowed_signers file into the state dir (0644: readable, written only by root);
    returns its path there. ValueError (nothing written) when ``source`` names no signer."""
    from hookshim.adopt import write_new

    read_signers(source)
    with open(source, "rb") as f:
        data = f.read()
    dest = os.path.join(os.path.abspath(state_dir), SIGNERS_NAME)
    write_new(dest, data, 0o644)
    return dest
