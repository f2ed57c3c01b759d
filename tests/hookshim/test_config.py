"""Config parsing: key = value lines, typed values, line-numbered errors."""
import pytest

from hookshim.config import ConfigError, load_config, parse_lines, render, build


def test_missing_file_gives_defaults(tmp_path):
    cfg = load_config(str(tmp_path / "absent.conf"))
    assert cfg.state_dir == "/var/lib/hookshim"
    assert cfg.spool_max_bytes == 256 << 20
    assert cfg.stdin_max_bytes == 16 << 20
    assert cfg.on_internal_error == "passthrough" and cfg.on_record_failure == "allow"
    assert cfg.policy_bundle == "/var/lib/hookshim/policy-bundle.json"
    assert cfg.host


@pytest.mark.parametrize("line, key, value", [
    ("spool_max_bytes = 4M", "spool_max_bytes", 4 << 20),          # binary size suffix
    ("stderr_max_bytes=100", "stderr_max_bytes", 100),             # no spaces needed
    ("script_timeout = 1.5", "script_timeout", 1.5),               # seconds by default
    ("sent_retention = 2d", "sent_retention", 2 * 86400),          # day suffix
    ("verify_tls = no", "verify_tls", False),                      # boolean words
    ("server_url = https://audit.example:8443", "server_url", "https://audit.example:8443"),
    ("redact_extra = disk/source@name  secret", "redact_extra", ("disk/source@name", "secret")),
    ("on_record_failure = deny", "on_record_failure", "deny"),
])
def test_values_are_typed(line, key, value):
    assert parse_lines([line])[key] == value


def test_redact_extra_lines_accumulate():
    values = parse_lines(["redact_extra = a@b", "# comment", "", "redact_extra = c"])
    assert values["redact_extra"] == ("a@b", "c")


@pytest.mark.parametrize("lines, fragment", [
    (["host = x", "colour = blue"], "f.conf:2: unknown setting 'colour'"),
    (["just words"], "f.conf:1: unknown setting 'just words'"),
    (["batch_size = many"], "f.conf:1: bad value for batch_size"),
    (["on_internal_error = maybe"], "on_internal_error must be one of passthrough|allow|deny"),
])
def test_bad_lines_name_file_and_line(lines, fragment):
    with pytest.raises(ConfigError) as info:
        parse_lines(lines, "f.conf")
    assert fragment in str(info.value)


def test_policy_bundle_follows_state_dir(tmp_path):
    path = tmp_path / "c.conf"
    path.write_text("state_dir = /srv/spool/\n")
    assert load_config(str(path)).policy_bundle == "/srv/spool/policy-bundle.json"


def test_render_round_trips(tmp_path):
    values = {"state_dir": "/x", "server_url": "https://s", "verify_tls": False,
              "redact_extra": ("a@b", "c")}
    path = tmp_path / "c.conf"
    path.write_text(render(values))
    cfg = load_config(str(path))
    assert {k: getattr(cfg, k) for k in values} == values
    assert build({}).as_dict().keys() == cfg.as_dict().keys()
