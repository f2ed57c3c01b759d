"""The policy language: pydantic models of the YAML rules (one file = a list of rules).

Everything is validated here, with messages that name the field, so the compiler only
translates. Unknown fields are errors (a typo must not silently turn a rule off).
"""
import math
import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.policy.paths import compile_path
from app.policy.regex_guard import check_regex
from hookshim.policy_cond import unit_scale

DRIVERS = ("daemon", "qemu", "lxc", "libxl", "network", "bhyve")
OPS = ("prepare", "start", "started", "stopped", "release", "migrate", "restore", "reconnect",
       "attach", "port-created", "port-deleted", "updated", "plugged", "unplugged", "shutdown",
       "reload")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_BYTES = 2 ** 64       # libvirt keeps sizes in unsigned long long
MAX_NUMBER = 2 ** 63
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$|^24:00$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


Names = Union[str, list[str]]
Path = Annotated[str, Field(min_length=1, max_length=512)]
Glob = Annotated[str, Field(min_length=1, max_length=255)]
Number = Union[int, float, str]


def as_list(value):
    return None if value is None else ([value] if isinstance(value, str) else list(value))


def _check_globs(value):
    """Globs with ? or [..] become regexes at the hook: they must pass the regex guard."""
    import fnmatch

    for glob in as_list(value) or ():
        if any(c in glob for c in "?["):
            try:
                check_regex(fnmatch.translate(glob))
            except ValueError as exc:
                raise ValueError(f"glob {glob!r} is too complex: {exc}") from None
    return value


def _check_path(value):
    compile_path(value)  # PathError is a ValueError: pydantic reports it on the field
    return value


class _Compare(_Model):
    gt: Number | None = None
    ge: Number | None = None
    lt: Number | None = None
    le: Number | None = None
    eq: Number | None = None
    ne: Number | None = None

    def bounds(self) -> dict:
        return {k: v for k, v in (("gt", self.gt), ("ge", self.ge), ("lt", self.lt),
                                  ("le", self.le), ("eq", self.eq), ("ne", self.ne)) if v is not None}

    @model_validator(mode="after")
    def _one_bound(self):
        if not self.bounds():
            raise ValueError("give at least one of gt, ge, lt, le, eq, ne")
        return self


class CountCond(_Compare):
    path: Path

    _path = field_validator("path")(_check_path)

    @field_validator("gt", "ge", "lt", "le", "eq", "ne")
    @classmethod
    def _int(cls, v):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or abs(v) > 10**6):
            raise ValueError("a count bound must be a whole number up to 1000000")
        return v


class NumberCond(_Compare):
    path: Path
    unit: str | None = Field(None, description="unit of the value when the element has no "
                                               "unit attribute (libvirt memory: KiB)")
    _path = field_validator("path")(_check_path)

    @field_validator("unit")
    @classmethod
    def _unit(cls, v):
        if v is not None:
            unit_scale(v)
        return v

    @field_validator("gt", "ge", "lt", "le", "eq", "ne")
    @classmethod
    def _quantity(cls, v):
        if v is not None:
            parse_quantity(v)
        return v

    def sized(self) -> bool:
        return self.unit is not None or any(parse_quantity(v)[1] for v in self.bounds().values())


def parse_quantity(v) -> tuple:
    """(number, unit or None) of a bound such as 64, "64", "64 GiB"; ValueError when wrong."""
    if isinstance(v, bool):
        raise ValueError("a number is needed, not true/false")
    if isinstance(v, (int, float)):
        number, unit = v, None
    else:
        m = _QUANTITY.match(v)
        if not m:
            raise ValueError(f"{v!r} is not a number with an optional unit (like '64 GiB')")
        number = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
        unit = m.group(2) or None
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("the number must be finite")
    if unit is not None:
        scaled = number * unit_scale(unit)
        if scaled > MAX_BYTES:
            raise ValueError(f"{v!r} is larger than 2^64 bytes, libvirt's limit")
    elif abs(number) > MAX_NUMBER:
        raise ValueError(f"{v!r} is too large (the limit is 2^63)")
    return number, unit


class RegexCond(_Model):
    path: Path
    pattern: Annotated[str, Field(min_length=1)]
    ignore_case: bool = False
    _path = field_validator("path")(_check_path)

    @model_validator(mode="after")
    def _bounded(self):
        check_regex(self.pattern, self.ignore_case)
        return self


class EqualsCond(_Model):
    path: Path
    value: Names
    _path = field_validator("path")(_check_path)


class TimeCond(_Model):
    days: list[str] | None = None
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    tz: str = "UTC"

    @field_validator("days")
    @classmethod
    def _days(cls, v):
        bad = [d for d in v or () if d.lower()[:3] not in DAYS or len(d) < 3]
        if bad:
            raise ValueError(f"unknown day(s) {bad}: use {', '.join(DAYS)}")
        return v

    @field_validator("from_", "to")
    @classmethod
    def _hhmm(cls, v):
        if v is not None and not _HHMM.match(v):
            raise ValueError(f"{v!r} is not a time of day HH:MM (quote it in YAML: \"22:00\")")
        return v

    @field_validator("tz")
    @classmethod
    def _zone(cls, v):
        if v not in ("UTC", "Etc/UTC", "Z"):
            from zoneinfo import ZoneInfo

            try:
                ZoneInfo(v)
            except Exception:
                raise ValueError(f"unknown time zone {v!r} (use an IANA name like "
                                 "'Europe/Berlin')") from None
        return v


class Condition(_Model):
    """Exactly one of the keys below."""

    exists: Path | None = None
    missing: Path | None = None
    count: CountCond | None = None
    number: NumberCond | None = None
    regex: RegexCond | None = None
    equals: EqualsCond | None = None
    time: TimeCond | None = None
    all_: list["Condition"] | None = Field(None, alias="all", min_length=1)
    any_: list["Condition"] | None = Field(None, alias="any", min_length=1)
    not_: "Condition | None" = Field(None, alias="not")

    _paths = field_validator("exists", "missing")(_check_path)

    @model_validator(mode="after")
    def _exactly_one(self):
        keys = [k for k in self.model_fields_set]
        if len(keys) != 1:
            names = ", ".join(CONDITION_KEYS)
            raise ValueError(f"a condition has exactly one of: {names} (got {len(keys)})")
        return self

    def kind(self) -> str:
        return next(iter(self.model_fields_set)).rstrip("_")


CONDITION_KEYS = ("exists", "missing", "count", "number", "regex", "equals", "time", "all",
                  "any", "not")


class SetAttribute(_Model):
    path: Path
    attribute: str
    value: str
    _path = field_validator("path")(_check_path)


class RemoveAttribute(_Model):
    path: Path
    attribute: str
    _path = field_validator("path")(_check_path)


class ReplacePrefix(_Model):
    path: Path
    attribute: str | None = None
    from_: Annotated[str, Field(alias="from", min_length=1)]
    to: str
    _path = field_validator("path")(_check_path)


class SetText(_Model):
    path: Path
    value: str
    _path = field_validator("path")(_check_path)


class RemoveElement(_Model):
    path: Path
    _path = field_validator("path")(_check_path)


class Mutation(_Model):
    """Exactly one of the keys below."""

    set_attribute: SetAttribute | None = None
    remove_attribute: RemoveAttribute | None = None
    replace_prefix: ReplacePrefix | None = None
    set_text: SetText | None = None
    remove_element: RemoveElement | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if len(self.model_fields_set) != 1:
            raise ValueError("a mutation has exactly one of: set_attribute, remove_attribute, "
                             "replace_prefix, set_text, remove_element")
        return self


class Match(_Model):
    driver: Names | None = None
    op: Names | None = None
    subop: Names | None = None
    object: Glob | list[Glob] | None = None
    object_regex: str | None = None
    host: Glob | list[Glob] | None = None
    domain_uuid: Names | None = None

    _globs = field_validator("object", "host")(_check_globs)

    @field_validator("driver")
    @classmethod
    def _drivers(cls, v):
        return _known(v, DRIVERS, "driver")

    @field_validator("op")
    @classmethod
    def _ops(cls, v):
        return _known(v, OPS, "op")

    @field_validator("object_regex")
    @classmethod
    def _regex(cls, v):
        if v is not None:
            check_regex(v)
        return v


def _known(v, allowed, what):
    bad = [x for x in as_list(v) or () if x not in allowed]
    if bad:
        raise ValueError(f"unknown {what}(s) {bad}: known are {', '.join(allowed)}")
    return v


class Exempt(_Model):
    object: Glob | list[Glob] | None = None
    host: Glob | list[Glob] | None = None
    _globs = field_validator("object", "host")(_check_globs)
    marker: bool = Field(False, description="honour <exempt xmlns='urn:hookaudit:policy' "
                                            "rules='id ...'/> in the domain's <metadata>")


class Rule(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]
    description: str | None = None
    match: Match = Match()
    exempt: Exempt | None = None
    mode: Literal["enforce", "warn", "dryrun"] = "enforce"
    deny_if: Condition | None = None
    mutate: Annotated[list[Mutation], Field(min_length=1)] | None = None
    message: Annotated[str, Field(max_length=300)] | None = None
    failure_policy: Literal["ignore", "fail"] = "ignore"
    allow_destroy_running: bool = Field(False, description="opt-in: an enforce deny on "
                                        "started/reconnect destroys a running guest")

    @model_validator(mode="after")
    def _one_action(self):
        if (self.deny_if is None) == (self.mutate is None):
            raise ValueError("a rule has exactly one of deny_if or mutate")
        if self.deny_if is not None and not self.message:
            raise ValueError("a deny_if rule needs a message (it is what virsh shows)")
        if self.deny_if is not None and _depth(self.deny_if) > MAX_DEPTH:
            raise ValueError(f"deny_if nests all/any/not deeper than {MAX_DEPTH} levels")
        return self


MAX_DEPTH = 16


def _depth(c: Condition) -> int:
    subs = (c.all_ or []) + (c.any_ or []) + ([c.not_] if c.not_ is not None else [])
    return 1 + max((_depth(x) for x in subs), default=0)


Condition.model_rebuild()
