"""Domain errors: what a service refuses, in its own words. Services raise these and know
nothing of HTTP; app/errors.py renders them (JSON under /api/, error.html for pages).

    DomainError          a message, a snake_case code, optional details
    ├── NotFound         no such event, guest, host, user ...        (404)
    ├── InvalidCursor    a paging cursor this server did not hand out (422)
    ├── Invalid          input breaks a rule; details name the fields (422)
    ├── Conflict         the name is taken, or the stored state forbids it (409)
    ├── Forbidden        the caller may not do this (403)
    └── TooLarge         more than a configured limit (413)
"""
from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, details: Any = None, code: str | None = None):
        super().__init__(message)
        self.message, self.details = message, details
        self.code = code or self.code


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, what: str, key: Any, message: str | None = None):
        super().__init__(message or f"no {what} {key!r}")
        self.what = what


class InvalidCursor(DomainError):
    code = "invalid_cursor"

    def __init__(self, message: str = "cursor is not one this API returned"):
        super().__init__(message)


class Invalid(DomainError):
    code = "validation_error"


class Conflict(DomainError):
    code = "conflict"


class Forbidden(DomainError):
    code = "forbidden"


class TooLarge(DomainError):
    code = "payload_too_large"
