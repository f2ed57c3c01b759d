"""The systemd unit written by install_unit: restart policy, hardening, the right command."""
import io

from hookshim.forward_cli import install_unit


def unit_for(tmp_path):
    conf = tmp_path / "hookshim.conf"
    conf.write_text("state_dir = %s\nserver_url = https://audit.example:8443\n" % (tmp_path / "st"))
    out = io.StringIO()
    path = install_unit(str(conf), unit_dir=str(tmp_path / "units"), python="/usr/bin/python3",
                        out=out)
    return conf, open(path).read(), out.getvalue()


def test_unit_runs_forward_with_the_config_and_restarts_always(tmp_path):
    conf, unit, _ = unit_for(tmp_path)
    lines = unit.splitlines()
    assert "ExecStart=/usr/bin/python3 -m hookshim forward --config %s" % conf in lines
    assert "Restart=always" in lines and "RestartSec=5" in lines
    assert "StartLimitIntervalSec=0" in lines


def test_unit_is_hardened_but_can_write_the_state_dir(tmp_path):
    _, unit, _ = unit_for(tmp_path)
    lines = unit.splitlines()
    for setting in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"):
        assert setting in lines
    assert "ReadWritePaths=%s" % (tmp_path / "st") in lines


def test_install_prints_the_systemctl_commands(tmp_path):
    _, _, printed = unit_for(tmp_path)
    assert "systemctl daemon-reload" in printed
    assert "systemctl enable --now hookshim-forward.service" in printed


def test_hookshim_install_with_a_server_writes_the_forwarder_unit(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    token = tmp_path / "token"
    token.write_text("t\n")
    token.chmod(0o600)
    conf = tmp_path / "hookshim.conf"
    done = subprocess.run(
        [sys.executable, "-m", "hookshim", "install", "--config", str(conf),
         "--hooks-dir", str(tmp_path / "hooks"), "--state-dir", str(tmp_path / "state"),
         "--server", "https://audit.example:8443", "--token-file", str(token),
         "--unit-dir", str(tmp_path / "units"), "--python", "/usr/bin/python3", "libxl"],
        cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout
    unit = (tmp_path / "units" / "hookshim-forward.service").read_text()
    assert "--config %s" % conf in unit
    assert "systemctl enable --now hookshim-forward.service" in done.stdout


def test_a_token_readable_by_others_is_warned_about(tmp_path, caplog):
    from hookshim.forward_cli import warn_if_token_exposed

    token = tmp_path / "token"
    token.write_text("t\n")
    token.chmod(0o644)
    assert warn_if_token_exposed(str(token)) == 0o644
    assert "chmod 600" in caplog.text
    token.chmod(0o600)
    caplog.clear()
    warn_if_token_exposed(str(token))
    assert caplog.text == ""
