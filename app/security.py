"""Secrets: random bearer tokens stored as sha256, passwords hashed with argon2id."""
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_dummy_hash: list[str] = []   # built on first use, not at import

HOST_TOKEN_PREFIX = "hah_"   # host (ingest) token
USER_TOKEN_PREFIX = "hau_"   # user (API read) token


def new_token(prefix: str) -> str:
    """256 random bits; the prefix tells a reader which kind of token leaked."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted hash is enough and allows lookup by hash.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def spend_a_verification(password: str) -> None:
    """Verify ``password`` against a dummy hash with the same parameters as real ones: a
    login for an unknown, disabled or password-less user then takes as long as a wrong
    password for a real one, so the timing does not tell which user names exist."""
    if not _dummy_hash:
        _dummy_hash.append(_hasher.hash(secrets.token_urlsafe(16)))
    verify_password(_dummy_hash[0], password)
