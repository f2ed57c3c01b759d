"""install/uninstall: reversible adoption, byte for byte, idempotent."""
import os
import subprocess
import sys

import pytest

from hookshim.install import install, uninstall
from tests.hookshim.fake_host import FakeHost
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


def run_install(tmp_path, hooks, *drivers, version="9.0.0", host=None, **options):
    lines = []
    host = host or FakeHost(tmp_path / "host")
    code = install(list(drivers), str(hooks), str(tmp_path / "state"),
                   str(tmp_path / "hookshim.conf"), python=SYSTEM_PYTHON, out=lines.append,
                   libvirt_version=version, libvirt_daemon="libvirtd", host=host, **options)
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


# -- libvirt on the host: version, daemon, discovery, reload -----------------------------------


def test_install_writes_the_detected_libvirt_into_the_config(tmp_path, legacy_hooks):
    from hookshim.config import load_config

    host = FakeHost(tmp_path / "host")
    host.binary_prints("virtqemud", "virtqemud (libvirt) 11.3.0")
    host.daemon("virtqemud", 50)
    lines = []
    install(["libxl"], str(legacy_hooks), str(tmp_path / "s"), str(tmp_path / "c.conf"),
            python=SYSTEM_PYTHON, out=lines.append, host=host)
    cfg = load_config(str(tmp_path / "c.conf"))
    assert (cfg.libvirt_version, cfg.libvirt_daemon) == ("11.3.0", "split")


def test_overrides_win_and_unknown_stays_unset(tmp_path, legacy_hooks):
    from hookshim.config import load_config

    host = FakeHost(tmp_path / "host")
    host.binary_prints("libvirtd", "libvirtd (libvirt) 9.0.0")
    install(["libxl"], str(legacy_hooks), str(tmp_path / "s"), str(tmp_path / "a.conf"),
            python=SYSTEM_PYTHON, out=lambda *_: None, host=host,
            libvirt_version="6.4.0", libvirt_daemon="split")
    cfg = load_config(str(tmp_path / "a.conf"))
    assert (cfg.libvirt_version, cfg.libvirt_daemon) == ("6.4.0", "split")
    install(["libxl"], str(legacy_hooks), str(tmp_path / "s"), str(tmp_path / "b.conf"),
            python=SYSTEM_PYTHON, out=lambda *_: None, host=FakeHost(tmp_path / "empty"))
    cfg = load_config(str(tmp_path / "b.conf"))
    assert (cfg.libvirt_version, cfg.libvirt_daemon) == (None, None)
    assert "libvirt_version" not in (tmp_path / "b.conf").read_text()


@pytest.mark.parametrize("option, value", [("libvirt_version", "9.0"),
                                           ("libvirt_version", "latest"),
                                           ("libvirt_daemon", "virtqemud")])
def test_a_bad_override_is_refused_before_anything_changes(tmp_path, legacy_hooks, option,
                                                           value):
    before = snapshot(legacy_hooks)
    lines = []
    code = install(["qemu"], str(legacy_hooks), str(tmp_path / "s"), str(tmp_path / "c.conf"),
                   python=SYSTEM_PYTHON, out=lines.append, host=FakeHost(tmp_path / "h"),
                   **{option: value})
    assert code == 1 and lines[0].startswith("error: ") and value in lines[0]
    assert snapshot(legacy_hooks) == before and not (tmp_path / "c.conf").exists()


def test_config_refuses_an_unknown_daemon_mode(tmp_path):
    from hookshim.config import ConfigError, load_config

    (tmp_path / "c.conf").write_text("libvirt_daemon = virtqemud\n")
    with pytest.raises(ConfigError, match="libvirtd|split"):
        load_config(str(tmp_path / "c.conf"))


def test_a_new_hook_names_the_split_daemon_to_reload(tmp_path):
    host = FakeHost(tmp_path / "host")
    host.daemon("virtqemud", 50)
    lines = []
    install(["qemu"], str(tmp_path / "hooks"), str(tmp_path / "s"), str(tmp_path / "c.conf"),
            python=SYSTEM_PYTHON, out=lines.append, host=host, libvirt_version="9.0.0",
            libvirt_daemon="split")
    assert any(line.startswith("qemu: virtqemud does not call a qemu hook yet") for line in lines)
    assert "run `systemctl reload virtqemud` (or rerun with --reload) so virtqemud rescans " \
           "the hooks" in lines
    assert host.commands == []


def test_reload_option_reloads_exactly_the_daemon_that_must_rescan(tmp_path):
    host = FakeHost(tmp_path / "host")
    for pid, name in enumerate(["virtqemud", "virtxend", "virtnetworkd"], 50):
        host.daemon(name, pid)
    lines = []
    install(["libxl", "daemon"], str(tmp_path / "hooks"), str(tmp_path / "s"),
            str(tmp_path / "c.conf"), python=SYSTEM_PYTHON, out=lines.append, host=host,
            libvirt_version="9.0.0", libvirt_daemon="split", reload=True)
    assert host.commands == [["systemctl", "reload", "virtxend.service"]]
    assert "reload: ran systemctl reload virtxend.service" in lines
    assert any(line.startswith("daemon: every libvirt daemon rescans") for line in lines)


def test_a_daemon_that_started_after_the_old_hook_already_calls_the_launcher(tmp_path,
                                                                              legacy_hooks):
    import time

    host = FakeHost(tmp_path / "host")
    time.sleep(0.05)
    host.daemon("libvirtd", 50, started_ago=0)
    _, lines = run_install(tmp_path, legacy_hooks, "qemu", host=host, reload=True)
    assert any(line.startswith("qemu: libvirtd already calls the qemu hook") for line in lines)
    assert host.commands == []


@pytest.mark.parametrize("version", ["6.4.0", "2.2.0", None])
def test_before_6_5_a_dot_d_libvirt_never_ran_is_left_alone(tmp_path, legacy_hooks, version):
    before = snapshot(legacy_hooks / "qemu.d")
    code, lines = run_install(tmp_path, legacy_hooks, "qemu", version=version)
    assert code == 0 and snapshot(legacy_hooks / "qemu.d") == before
    assert not (legacy_hooks / "qemu.hookshim" / "d" / "10-net").exists()
    assert any(line.startswith("qemu.d: left in place, not adopted") for line in lines)
    assert uninstall(["qemu"], str(legacy_hooks), out=lambda *_: None) == 0
    assert (legacy_hooks / "qemu").read_bytes().startswith(b"#!/bin/sh\n# the site")


def test_adopt_dot_d_adopts_it_on_an_old_libvirt_when_asked(tmp_path, legacy_hooks):
    run_install(tmp_path, legacy_hooks, "qemu", version="6.4.0", adopt_dot_d=True)
    assert not (legacy_hooks / "qemu.d").exists()
    assert (legacy_hooks / "qemu.hookshim" / "d" / "10-net").exists()


def test_uninstall_on_an_old_libvirt_reloads_the_daemon_that_would_fail_calls(tmp_path):
    host = FakeHost(tmp_path / "host")
    host.daemon("libvirtd", 50)
    conf = str(tmp_path / "c.conf")
    install(["libxl"], str(tmp_path / "hooks"), str(tmp_path / "s"), conf,
            python=SYSTEM_PYTHON, out=lambda *_: None, host=host, libvirt_version="2.2.0",
            libvirt_daemon="libvirtd")
    lines = []
    uninstall(["libxl"], str(tmp_path / "hooks"), out=lines.append, config=conf, reload=True,
              host=host)
    assert host.commands[-1] == ["systemctl", "reload", "libvirtd.service"]
    assert any("fails every later call" in line for line in lines)


# -- the launcher's fallback -------------------------------------------------------------------


@pytest.mark.parametrize("driver, op, code", [
    ("qemu", "started", 0), ("qemu", "reconnect", 0), ("qemu", "prepare", 1),
    ("libxl", "started", 0), ("libxl", "prepare", 1),
])
def test_fallback_never_answers_non_zero_where_a_running_guest_would_die(tmp_path, driver, op,
                                                                         code):
    from hookshim.outcome import guard_rail_ops
    from tests.hookshim.conftest import HOOK_ENV

    assert (op in guard_rail_ops(driver, "9.0.0")) == (code == 0)
    (tmp_path / "hookshim.conf").write_text("on_internal_error = deny\n")
    hooks = tmp_path / "hooks"
    run_install(tmp_path, hooks, driver)
    launcher = hooks / driver
    launcher.write_text(launcher.read_text().replace(repr(str(REPO)), repr("/nonexistent")))
    proc = subprocess.run([str(launcher), "g", op, "begin", "-"], input=b"<domain/>",
                          capture_output=True, env=dict(HOOK_ENV), cwd="/")
    assert proc.returncode == code
    assert proc.stderr.startswith(b"hookshim: cannot load the shim")


# -- never follow a symlink, never write outside the hooks and state directories --------------


@pytest.mark.parametrize("planted", ["qemu.hookshim-tmp", "qemu.hookshim/manifest.json.tmp"])
def test_a_planted_temporary_symlink_is_refused_and_nothing_changes(tmp_path, legacy_hooks,
                                                                    planted):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (legacy_hooks / "qemu.hookshim").mkdir()
    (legacy_hooks / planted).symlink_to(victim)
    before = snapshot(legacy_hooks)
    code, lines = run_install(tmp_path, legacy_hooks, "qemu")
    assert code == 1 and any("exists (left over or planted)" in line for line in lines)
    assert snapshot(legacy_hooks) == before and victim.read_text() == "precious\n"


@pytest.mark.parametrize("driver", ["../x", "/etc/passwd", "qemu/../../x", "", "qemu.d", "."])
def test_a_driver_name_that_is_not_a_libvirt_hook_is_refused(tmp_path, legacy_hooks, driver):
    before = snapshot(tmp_path)
    code, lines = run_install(tmp_path, legacy_hooks, driver)
    assert code == 1 and "is not a libvirt hook name" in lines[-1] or any(
        "is not a libvirt hook name" in line for line in lines)
    assert not (tmp_path / "x").exists()
    assert uninstall([driver], str(legacy_hooks), out=lambda *_: None) == 1
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith(("state", "hookshim.conf",
                                                                 "host"))} == \
        {k: v for k, v in before.items() if not k.startswith(("state", "hookshim.conf",
                                                               "host"))}


def test_uninstall_refuses_a_dot_d_swapped_for_a_symlink_after_install(tmp_path, legacy_hooks):
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o700)
    run_install(tmp_path, legacy_hooks, "qemu")
    (legacy_hooks / "qemu.d").symlink_to(outside)
    before, lines = snapshot(tmp_path), []
    assert uninstall(["qemu"], str(legacy_hooks), out=lines.append) == 1
    assert any("qemu.d is a link where only absent or dir is safe" in line for line in lines)
    assert snapshot(tmp_path) == before and os.listdir(outside) == []
    assert oct(outside.stat().st_mode & 0o777) == "0o700"


def test_install_refuses_a_home_that_is_a_symlink(tmp_path, legacy_hooks):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (legacy_hooks / "qemu.hookshim").symlink_to(elsewhere)
    before = snapshot(tmp_path)
    code, lines = run_install(tmp_path, legacy_hooks, "qemu")
    assert code == 1 and os.listdir(elsewhere) == []
    in_hooks = lambda snap: {k: v for k, v in snap.items() if k.split(os.sep)[0] == "hooks"}
    assert in_hooks(snapshot(tmp_path)) == in_hooks(before)


def test_a_dot_d_symlink_to_a_directory_is_adopted_as_a_link_and_put_back(tmp_path):
    from tests.hookshim.conftest import HOOK_ENV

    shared = tmp_path / "shared.d"
    shared.mkdir()
    (shared / "10-log").write_text("#!/bin/sh\necho ran >> %s/ran\n" % tmp_path)
    (shared / "10-log").chmod(0o755)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "qemu.d").symlink_to("../shared.d")
    before, shared_before = snapshot(hooks), snapshot(shared)
    code, _ = run_install(tmp_path, hooks, "qemu")
    assert code == 0 and not os.path.lexists(hooks / "qemu.d")
    subprocess.run([str(hooks / "qemu"), "g", "prepare", "begin", "-"], input=b"<domain/>",
                   env=dict(HOOK_ENV), cwd="/", check=True, capture_output=True)
    assert (tmp_path / "ran").read_text() == "ran\n"      # libvirt would have run it
    assert snapshot(shared) == shared_before             # its target was never touched
    assert uninstall(["qemu"], str(hooks), out=lambda *_: None) == 0
    assert snapshot(hooks) == before


def test_an_interrupted_install_leaves_the_old_hook_in_place(tmp_path, legacy_hooks,
                                                             monkeypatch):
    """libvirt before 6.5 fails a call whose hook file vanished: no gap, ever."""
    from hookshim import adopt

    real = adopt.write_new

    def boom(path, data, mode):
        if path.endswith("/qemu"):
            raise OSError("disk full")
        real(path, data, mode)

    monkeypatch.setattr(adopt, "write_new", boom)
    code, _ = run_install(tmp_path, legacy_hooks, "qemu")
    assert code == 1
    assert (legacy_hooks / "qemu").read_bytes().startswith(b"#!/bin/sh\n# the site")
    monkeypatch.setattr(adopt, "write_new", real)     # run again: it completes
    before = snapshot(legacy_hooks)
    assert run_install(tmp_path, legacy_hooks, "qemu")[0] == 0
    assert uninstall(["qemu"], str(legacy_hooks), out=lambda *_: None) == 0
    assert snapshot(legacy_hooks) == {k: v for k, v in before.items()
                                      if not k.startswith("qemu.hookshim")}


@pytest.fixture
def world_readable_tmp():
    """A directory another user can reach (pytest's own tmp root is private to root)."""
    import shutil
    import tempfile
    from pathlib import Path

    if os.geteuid() != 0:
        pytest.skip("needs root to run the launcher as another user")
    path = Path(tempfile.mkdtemp(prefix="hookshim-session-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("on_record_failure, code", [("allow", 0), ("deny", 1)])
def test_a_session_daemons_call_runs_as_the_user_and_is_not_recorded(on_record_failure, code,
                                                                     world_readable_tmp):
    """libvirt's hook directory is fixed at build time (virhook.c LIBVIRT_HOOK_DIR): a user's
    session daemon runs the system launcher as that user, who cannot write the spool."""
    from tests.hookshim.conftest import HOOK_ENV

    tmp_path = world_readable_tmp
    run_install(tmp_path, tmp_path / "hooks", "qemu")
    with open(tmp_path / "hookshim.conf", "a") as f:
        f.write("on_record_failure = %s\n" % on_record_failure)

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)

    proc = subprocess.run([str(tmp_path / "hooks" / "qemu"), "g", "prepare", "begin", "-"],
                          input=b"<domain/>", capture_output=True, env=dict(HOOK_ENV), cwd="/",
                          preexec_fn=as_nobody)
    assert proc.returncode == code
    assert os.listdir(tmp_path / "state") == []


def test_uninstall_refuses_a_planted_temporary_before_changing_anything(tmp_path, legacy_hooks):
    run_install(tmp_path, legacy_hooks, "qemu")
    (legacy_hooks / "qemu.hookshim-tmp").symlink_to(tmp_path / "victim")
    before, lines = snapshot(legacy_hooks), []
    assert uninstall(["qemu"], str(legacy_hooks), out=lines.append) == 1
    assert snapshot(legacy_hooks) == before and not (tmp_path / "victim").exists()
