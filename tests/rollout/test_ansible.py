"""The Ansible role, run for real (ansible-playbook -c local) against this machine with every
path under a temporary directory: installs, is idempotent, supports --check, upgrades; the
token comes from an ansible-vault encrypted file."""
import os
import re
import subprocess

import pytest

from tests.conftest import REPO
from tests.rollout.conftest import NEW, OLD, require
from tests.rollout.host import LEGACY, launcher_release

PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [vault.yml]
  roles: [hookshim]
"""


class Play:
    """A playbook in ``tmp`` whose role variables are written as YAML before each run."""

    def __init__(self, tmp):
        self.tmp, self.root = tmp, tmp / "host"
        hooks = self.root / "etc/libvirt/hooks"
        hooks.mkdir(parents=True)
        self.hook = hooks / "libxl"
        self.hook.write_bytes(LEGACY)
        self.hook.chmod(0o755)
        (tmp / "site.yml").write_text(PLAYBOOK)
        (tmp / "pw").write_text("test vault password\n")
        (tmp / "vault.yml").write_text('vault_hookshim_token: "hat_from_the_vault"\n')
        subprocess.run([require("ansible-vault"), "encrypt", "--vault-password-file",
                        str(tmp / "pw"), str(tmp / "vault.yml")], check=True,
                       capture_output=True)

    def run(self, *extra, **variables):
        variables = {"hookshim_root": str(self.root), "hookshim_manage_service": False,
                     **variables}
        (self.tmp / "vars.yml").write_text("".join(f"{k}: {v!r}\n" if isinstance(v, str)
                                                   else f"{k}: {v}\n"
                                                   for k, v in variables.items()))
        env = dict(os.environ, ANSIBLE_ROLES_PATH=str(REPO / "deploy/ansible/roles"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                   ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", ANSIBLE_PIPELINING="True",
                   ANSIBLE_LOCAL_TEMP=str(self.tmp / ".ansible-tmp"))
        proc = subprocess.run([require("ansible-playbook"), "-i", "localhost,", "site.yml",
                               "-e", "@vars.yml", "--vault-password-file", "pw", *extra],
                              cwd=self.tmp, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", proc.stdout).group(1))

    def launcher_release(self):
        """The release directory the launcher loads the shim from."""
        return launcher_release(self.hook.read_text())


@pytest.fixture
def play(tmp_path):
    return Play(tmp_path)


def test_role_installs_the_zipapp_idempotently_with_check_mode_and_upgrades(play, pyz):
    server = {"hookshim_server_url": "https://audit.example.net"}
    assert play.run(hookshim_pyz_src=str(pyz[OLD]), **server) > 0
    assert play.launcher_release().startswith(OLD + "-")
    token = play.root / "etc/hookshim/token"
    assert token.read_text() == "hat_from_the_vault\n" and token.stat().st_mode & 0o777 == 0o600
    assert (play.hook.parent / "libxl.hookshim/main").read_bytes() == LEGACY
    assert play.run(hookshim_pyz_src=str(pyz[OLD]), **server) == 0           # idempotent
    assert play.run("--check", hookshim_pyz_src=str(pyz[NEW]), **server) > 0  # would upgrade
    assert play.launcher_release().startswith(OLD + "-")                      # ... did not
    play.hook.unlink()                                # and a launcher removed by hand ...
    assert play.run(hookshim_pyz_src=str(pyz[NEW]), **server) > 0
    assert play.launcher_release().startswith(NEW + "-")                      # ... is back
    assert play.run("--check", hookshim_pyz_src=str(pyz[NEW]), **server) == 0


SIGNER = "ops@example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0st4ndsF0rTheR0leTest"
OTHER = "sec@example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAn0therKeyF0rTheR0leTest"


def pinned_signers(play):
    """The allowed_signers hookshim install pinned, and the path its config names."""
    conf = (play.root / "etc/hookshim/hookshim.conf").read_text()
    named = re.search(r"^policy_signers = (.+)$", conf, re.M)
    pinned = play.root / "var/lib/hookshim/allowed_signers"
    return pinned.read_text() if pinned.exists() else None, named and named.group(1)


def test_role_passes_the_policy_signers_to_install_only_when_set(play, pyz, tmp_path):
    assert play.run(hookshim_pyz_src=str(pyz[OLD])) > 0
    assert pinned_signers(play) == (None, None)        # unset: no --policy-signers
    assert play.run(hookshim_pyz_src=str(pyz[OLD]), hookshim_policy_signers=SIGNER) > 0
    pinned = str(play.root / "var/lib/hookshim/allowed_signers")
    assert pinned_signers(play) == (SIGNER + "\n", pinned)
    assert play.run(hookshim_pyz_src=str(pyz[OLD]), hookshim_policy_signers=SIGNER) == 0
    signers_file = tmp_path / "allowed_signers"        # the path form, on the controller
    signers_file.write_text(OTHER + "\n")
    assert play.run("--check", hookshim_pyz_src=str(pyz[OLD]),
                    hookshim_policy_signers=str(signers_file)) > 0
    assert pinned_signers(play) == (SIGNER + "\n", pinned)   # --check changed nothing
    assert play.run(hookshim_pyz_src=str(pyz[OLD]),
                    hookshim_policy_signers=str(signers_file)) > 0
    assert pinned_signers(play) == (OTHER + "\n", pinned)


def test_role_installs_the_package_idempotently_and_applies_a_new_driver_list(play, dists):
    require("dpkg")
    deb = str(dists[OLD] / f"hookshim_{OLD}_all.deb")
    assert play.run(hookshim_method="package", hookshim_package_src=deb) > 0
    assert play.launcher_release().startswith(OLD + "-")
    assert play.run(hookshim_method="package", hookshim_package_src=deb) == 0
    assert play.run(hookshim_method="package", hookshim_package_src=deb,
                    hookshim_drivers=["libxl", "qemu"], hookshim_policy_signers=SIGNER) > 0
    assert b"hookshim launcher" in (play.hook.parent / "qemu").read_bytes()
    assert pinned_signers(play)[0] == SIGNER + "\n"   # install.conf's POLICY_SIGNERS
