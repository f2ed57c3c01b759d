"""Query parameters of the facts API (issue 17): attribution, conflicts, definition changes."""
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.schemas_query import _plain_text, time_bound
from app.timeutil import to_naive_utc

Text = Annotated[str, Field(min_length=1, max_length=1024)]
LOOKUP_KINDS = ("mac", "disk", "hostdev", "port", "ip")
CHANGE_CATEGORIES = Literal["memory", "vcpus", "disks", "interfaces", "devices", "other"]


class _Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: datetime | None = Field(None, description="from this time: ISO (UTC if no zone), "
                                   "`now`, or relative to now: -15m, -24h, -7d")
    until: datetime | None = Field(None, description="until this time (same forms as since)")
    limit: Annotated[int, Field(ge=1, le=5000)] = 500

    # the one time model of every API (app/timerange.py): relative bounds too
    _bounds = field_validator("since", "until", mode="before")(time_bound)

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, value):
        return to_naive_utc(value)

    @model_validator(mode="after")
    def _ordered(self):
        if self.since and self.until and self.since > self.until:
            raise ValueError("since is after until")
        return self


class AttributionQuery(_Range):
    """Exactly one of mac, disk, hostdev, port (with host), ip; ``at`` or a range."""

    mac: Text | None = Field(None, description="52:54:00:ab:cd:ef (any case, ':' or '-')")
    disk: Text | None = Field(None, description="a path, rbd:pool/image, pool/image, a URL ...")
    hostdev: Text | None = Field(None, description="PCI 0000:3b:00.1 or 3b:00.1, mdev UUID, "
                                 "usb:vendor:product ...")
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        None, description="graphics port (VNC/SPICE), with host")
    ip: Text | None = Field(None, description="an IPv4 or IPv6 address")
    host: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        None, description="only stays on this host (required with port)")
    at: datetime | None = Field(None, description="who held it at this time: ISO (UTC if no "
                                "zone), `now`, or relative: -2h")
    format: Literal["json", "csv", "ndjson"] = "json"

    _text = field_validator("mac", "disk", "hostdev", "ip", "host")(_plain_text)
    _at_bound = field_validator("at", mode="before")(time_bound)

    @field_validator("at")
    @classmethod
    def _utc_at(cls, value):
        return to_naive_utc(value)

    @model_validator(mode="after")
    def _one_lookup(self):
        given = [k for k in LOOKUP_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of mac, disk, hostdev, port, ip")
        if self.port is not None and not self.host:
            raise ValueError("port needs host (a graphics port is per host)")
        if self.at is not None and (self.since or self.until):
            raise ValueError("give at, or since/until, not both")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in LOOKUP_KINDS if getattr(self, k) is not None)

    @property
    def value(self) -> str:
        return str(getattr(self, self.kind))


class ConflictQuery(_Range):
    kind: Literal["mac", "disk"] | None = None
    ongoing: bool = Field(False, description="only conflicts that have not ended")


class ChangeQuery(_Range):
    what: list[CHANGE_CATEGORIES] = Field([], description="only changes of these categories")
