"""install/uninstall: reversible adoption, byte for byte, idempotent."""
import os
import subprocess
import sys

import pytest

from hookshim.install import install, uninstall
from tests.hookshim.helpers import REPO, SYSTEM_PYTHON


def snapshot(root):
    """Every path under root with its type, mode, bytes or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.path.islink(path):
                content = ("link", os.readlink(path))
            elif os.path.isdir(path):
                content = ("dir", None)
            else:
                with open(path, "rb") as f:
                    content = ("file", f.read())
            out[os.path.relpath(path, root)] = (content, oct(st.st_mode))
    return out


@pytest.fixture
def legacy_hooks(tmp_path):
    """A host with its own qemu hook, a qemu.d/ with scripts, a link and a non-script."""
    hooks = tmp_path / "hooks"
    d = hooks / "qemu.d"
    d.mkdir(parents=True)
    (hooks / "qemu").write_bytes(b"#!/bin/sh\n# the site's own hook\nexit 0\n")
    (hooks / "qemu").chmod(0o750)
    (d / "10-net").write_bytes(b"#!/bin/sh\nexit 0\n")
    (d / "10-net").chmod(0o755)
    (d / "README").write_bytes(b"not a script\n")
    (d / "README").chmod(0o600)
    (d / "20-shared").symlink_to("../../shared-hook")
    (tmp_path / "shared-hook").write_bytes(b"#!/bin/sh\nexit 0\n")
    (tmp_path / "shared-hook").chmod(0o755)
    d.chmod(0o710)
    (hooks / "other-file").write_bytes(b"left alone\n")
    return hooks


def run_install(tmp_path, hooks, *drivers):
    lines = []
    code = install(list(drivers), str(hooks), str(tmp_path / "state"),
                   str(tmp_path / "hookshim.conf"), python=SYSTEM_PYTHON, out=lines.append)
    return code, lines


def test_install_then_uninstall_restores_the_host_byte_for_byte(tmp_path, legacy_hooks):
    before = snapshot(legacy_hooks)
    code, _ = run_install(tmp_path, legacy_hooks, "qemu", "libxl")
    assert code == 0
    assert not (legacy_hooks / "qemu.d").exists()      # libvirt must not run them itself
    assert (legacy_hooks / "qemu.hookshim" / "main").read_bytes().startswith(b"#!/bin/sh\n#")
    assert uninstall(["qemu", "libxl"], str(legacy_hooks), out=lambda *_: None) == 0
    assert snapshot(legacy_hooks) == before


def test_adopted_scripts_still_run_from_their_new_place(tmp_path, legacy_hooks):
    from tests.hookshim.conftest import HOOK_ENV

    run_install(tmp_path, legacy_hooks, "qemu")
    proc = subprocess.run([str(legacy_hooks / "qemu"), "g", "prepare", "begin", "-"],
                          input=b"<domain/>", capture_output=True, env=dict(HOOK_ENV), cwd="/")
    assert proc.returncode == 0
    from hookshim.spool import Spool

    (ev,) = Spool(str(tmp_path / "state" / "spool.db")).latest()
    assert [os.path.basename(s["path"]) for s in ev["scripts"]] == ["qemu", "10-net",
                                                                     "20-shared"]
    assert all(s["exit_code"] == 0 for s in ev["scripts"])


def test_install_is_idempotent(tmp_path, legacy_hooks):
    run_install(tmp_path, legacy_hooks, "qemu")
    first = snapshot(legacy_hooks)
    code, lines = run_install(tmp_path, legacy_hooks, "qemu")
    assert code == 0 and snapshot(legacy_hooks) == first
    assert any("no restart or SIGHUP needed" in line for line in lines)


def test_reinstall_adopts_scripts_dropped_in_later_and_uninstall_returns_them(
        tmp_path, legacy_hooks):
    before = snapshot(legacy_hooks)
    run_install(tmp_path, legacy_hooks, "qemu")
    (legacy_hooks / "qemu.d").mkdir()
    (legacy_hooks / "qemu.d" / "30-late").write_bytes(b"#!/bin/sh\nexit 0\n")
    (legacy_hooks / "qemu.d" / "30-late").chmod(0o755)
    run_install(tmp_path, legacy_hooks, "qemu")
    assert (legacy_hooks / "qemu.hookshim" / "d" / "30-late").exists()
    uninstall(["qemu"], str(legacy_hooks), out=lambda *_: None)
    after = snapshot(legacy_hooks)
    assert after.pop(os.path.join("qemu.d", "30-late"))[0] == ("file", b"#!/bin/sh\nexit 0\n")
    assert after == before


def test_restart_advice_depends_on_whether_libvirt_had_a_hook(tmp_path, legacy_hooks):
    _, lines = run_install(tmp_path, legacy_hooks, "qemu")
    assert any("no restart or SIGHUP needed" in line for line in lines)
    _, lines = run_install(tmp_path, legacy_hooks, "libxl")
    assert any("SIGHUP" in line and "systemctl reload libvirtd" in line for line in lines)


def test_launcher_runs_isolated_system_python_with_baked_paths(tmp_path, legacy_hooks):
    run_install(tmp_path, legacy_hooks, "libxl")
    text = (legacy_hooks / "libxl").read_text()
    assert text.startswith("#!%s -IS\n" % SYSTEM_PYTHON)
    assert repr(str(tmp_path / "hookshim.conf")) in text and repr(str(REPO)) in text
    assert os.stat(legacy_hooks / "libxl").st_mode & 0o777 == 0o755


def test_install_keeps_existing_config_and_sets_server_keys(tmp_path, legacy_hooks):
    conf = tmp_path / "hookshim.conf"
    conf.write_text("# mine\nhost = dom0-17\nscript_timeout = 5\n")
    install(["libxl"], str(legacy_hooks), str(tmp_path / "state"), str(conf),
            python=SYSTEM_PYTHON, server="https://audit:8443", token_file="/etc/t",
            out=lambda *_: None)
    from hookshim.config import load_config

    cfg = load_config(str(conf))
    assert (cfg.host, cfg.script_timeout, cfg.server_url, cfg.token_file) == (
        "dom0-17", 5.0, "https://audit:8443", "/etc/t")
    assert conf.read_text().startswith("# mine\n")


def test_uninstall_refuses_a_hook_replaced_after_install(tmp_path, legacy_hooks):
    run_install(tmp_path, legacy_hooks, "libxl")
    (legacy_hooks / "libxl").write_text("#!/bin/sh\n# someone else's\n")
    lines = []
    assert uninstall(["libxl"], str(legacy_hooks), out=lines.append) == 1
    assert (legacy_hooks / "libxl").read_text() == "#!/bin/sh\n# someone else's\n"


def test_cli_install_and_uninstall(tmp_path, legacy_hooks):
    before = snapshot(legacy_hooks)
    base = [sys.executable, "-m", "hookshim", "--config", str(tmp_path / "c.conf")]
    dirs = ["--hooks-dir", str(legacy_hooks), "--state-dir", str(tmp_path / "s")]
    proc = subprocess.run(base + ["install"] + dirs + ["qemu"], capture_output=True, text=True,
                          cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    assert "adopted" in proc.stdout
    proc = subprocess.run(base + ["uninstall", "--hooks-dir", str(legacy_hooks), "qemu"],
                          capture_output=True, text=True, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    assert snapshot(legacy_hooks) == before


def test_install_refuses_an_interpreter_that_cannot_run_the_shim(tmp_path, legacy_hooks):
    before = snapshot(legacy_hooks)
    fake = tmp_path / "python2"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    lines = []
    code = install(["qemu"], str(legacy_hooks), str(tmp_path / "s"), str(tmp_path / "c.conf"),
                   python=str(fake), out=lines.append)
    assert code == 1 and "older than Python 3.9" in lines[0]
    assert snapshot(legacy_hooks) == before


@pytest.mark.parametrize("mode, code", [("passthrough", 0), ("deny", 1)])
def test_launcher_whose_package_is_gone_answers_one_line(tmp_path, legacy_hooks, mode, code):
    from tests.hookshim.conftest import HOOK_ENV

    (tmp_path / "hookshim.conf").write_text("on_internal_error = %s\n" % mode)
    run_install(tmp_path, legacy_hooks, "libxl")
    launcher = legacy_hooks / "libxl"
    launcher.write_text(launcher.read_text().replace(repr(str(REPO)), repr("/nonexistent")))
    proc = subprocess.run([str(launcher), "g", "prepare", "begin", "-"], input=b"<domain/>",
                          capture_output=True, env=dict(HOOK_ENV), cwd="/")
    assert proc.returncode == code
    assert proc.stderr.startswith(b"hookshim: cannot load the shim") and \
        proc.stderr.count(b"\n") == 1
