"""Shim configuration: ``key = value`` lines, ``#`` comments (contract section 3).

Parsed with plain string operations because the hook pays for every import on every guest
lifecycle step. libvirt passes no environment to a hook, so the launcher bakes the path of
this file in; nothing here reads environment variables.

Values: sizes accept a K/M/G suffix (binary), durations an s/m/h/d suffix, booleans
true/false/yes/no/on/off/1/0. ``redact_extra`` may be given on several lines; its rules
accumulate (see ``hookshim.redact`` for the rule syntax).
"""

DEFAULT_PATH = "/etc/hookshim/hookshim.conf"

_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_CHOICES = {
    "on_internal_error": ("passthrough", "allow", "deny"),
    "on_record_failure": ("allow", "deny"),
    "libvirt_daemon": ("libvirtd", "split"),   # written by install (hookshim/libvirt_host.py)
}


class ConfigError(Exception):
    """The configuration file cannot be used (message names the file and line)."""


def _size(text):
    unit = _SIZE_UNITS.get(text[-1:].lower())
    number = text[:-1] if unit else text
    return int(float(number.strip()) * (unit or 1))


def _duration(text):
    unit = _TIME_UNITS.get(text[-1:].lower())
    number = text[:-1] if unit else text
    return float(number.strip()) * (unit or 1)


def _bool(text):
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected true or false, got %r" % text)


def _str(text):
    return text


def _optional(text):
    return text or None


# key -> (parser, default). Defaults of None are computed in ``load_config`` (host,
# policy_bundle) or mean "not set".
KEYS = {
    "host": (_str, None),
    "state_dir": (_str, "/var/lib/hookshim"),
    "hooks_dir": (_str, "/etc/libvirt/hooks"),
    "libvirt_version": (_optional, None),
    "libvirt_daemon": (_optional, None),
    "spool_max_bytes": (_size, 256 << 20),
    "stdin_max_bytes": (_size, 16 << 20),
    "stderr_max_bytes": (_size, 4096),
    "script_timeout": (_duration, 0.0),
    "on_internal_error": (_str, "passthrough"),
    "on_record_failure": (_str, "allow"),
    "handoff": (_bool, True),
    "handoff_timeout": (_duration, 2.0),
    "redact_extra": (_str, ()),
    "policy_bundle": (_str, None),
    "policy_signers": (_optional, None),
    "server_url": (_optional, None),
    "token_file": (_optional, None),
    "ca_file": (_optional, None),
    "verify_tls": (_bool, True),
    "batch_size": (int, 500),
    "batch_max_bytes": (_size, 8 << 20),
    "interval": (_duration, 2.0),
    "heartbeat_interval": (_duration, 30.0),
    "bundle_interval": (_duration, 60.0),
    "sent_retention": (_duration, 7 * 86400.0),
    "sent_max_rows": (int, 100000),
    "syslog_url": (_optional, None),
    "syslog_facility": (_str, "local0"),
}


class Config:
    """Attribute access to the settings; ``path`` is the file they came from."""

    def __init__(self, values, path=None):
        self.__dict__.update(values)
        self.path = path

    def __repr__(self):
        return "Config(%r)" % self.path

    def as_dict(self):
        return {k: getattr(self, k) for k in KEYS}


def _default_host():
    import posix  # builtin; socket (or os) would cost milliseconds on the hook path

    return posix.uname().nodename


def parse_lines(lines, origin="<config>"):
    """Parse config text lines into a dict of the keys that were set."""
    values = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        where = "%s:%d" % (origin, number)
        if not sep or key not in KEYS:
            raise ConfigError("%s: unknown setting %r" % (where, key if sep else line))
        values[key] = _parse_value(key, value, where, values)
    return values


def _parse_value(key, value, where, values):
    parser = KEYS[key][0]
    try:
        parsed = parser(value)
    except ValueError as exc:
        raise ConfigError("%s: bad value for %s: %s" % (where, key, exc)) from None
    if key in _CHOICES and parsed is not None and parsed not in _CHOICES[key]:
        raise ConfigError("%s: %s must be one of %s" % (where, key, "|".join(_CHOICES[key])))
    if key == "redact_extra":
        return tuple(values.get(key, ())) + tuple(parsed.split())
    return parsed


def load_config(path=DEFAULT_PATH):
    """Read ``path``; a missing file means all defaults (the hook must still work)."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            values = parse_lines(f.read().splitlines(), path)
    except FileNotFoundError:
        values = {}
    except OSError as exc:
        raise ConfigError("%s: cannot read: %s" % (path, exc)) from None
    return build(values, path)


def build(values, path=None):
    """Fill in defaults for the keys not in ``values``."""
    merged = {k: v[1] for k, v in KEYS.items()}
    merged.update(values)
    if not merged["host"]:
        merged["host"] = _default_host()
    if not merged["policy_bundle"]:
        merged["policy_bundle"] = merged["state_dir"].rstrip("/") + "/policy-bundle.json"
    return Config(merged, path)


def render(values):
    """Config file text for ``values`` (used by the installer); keeps KEYS order."""
    lines = ["# hookshim configuration (written by hookshim install; edit freely)"]
    for key in KEYS:
        if key not in values or values[key] is None:
            continue
        value = values[key]
        if isinstance(value, (tuple, list)):
            value = " ".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        lines.append("%s = %s" % (key, value))
    return "\n".join(lines) + "\n"
