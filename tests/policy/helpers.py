"""Compile YAML rules the way the server does and hand the hook exactly the JSON it would read."""
import json

from app.policy.compiler import build_bundle, load_text
from app.policy.lint import lint_rules
from hookshim.policy import evaluate

GUEST = """<domain type='xen'>
  <name>prod-web1</name>
  <uuid>6f3c1c9e-0d9a-4a53-9f6e-2b8f4f0e7a11</uuid>
  <description>web frontend</description>
  <memory unit='KiB'>4194304</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/xen/images/web1.img'/>
      <target dev='xvda' bus='xen'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/xen/images/install.iso'/>
      <target dev='hdc' bus='ide'/>
    </disk>
    <interface type='bridge'><mac address='00:16:3e:00:00:01'/><source bridge='br0'/></interface>
  </devices>
</domain>
"""


# The example rules of the policy docs and the issue, defined once for every policy test.
NO_HOSTDEV = """- id: no-hostdev-in-prod
  match: {op: [prepare], object: "prod-*"}
  mode: enforce
  deny_if: {exists: "./devices/hostdev"}
  message: "PCI passthrough is not allowed for production guests"
"""
VCPU_CAP = """- id: vcpu-cap
  match: {op: [prepare]}
  mode: dryrun
  deny_if: {number: {path: ./vcpu, gt: 1}}
  message: too many vCPUs
"""
MOVE_IMAGES = """- id: move-images
  match: {op: [migrate]}
  mutate:
    - replace_prefix: {path: "./devices/disk/source", attribute: file,
                       from: "/var/lib/xen/images/", to: "/srv/images/"}
"""

def compile_yaml(text: str) -> dict:
    """Bundle of one policy file's text; fails the test on any validation or lint error."""
    rules, findings = load_text(text, "test.yaml")
    errors = [str(f) for f in findings + lint_rules([("test.yaml", r) for r in rules])
              if f.level == "error"]
    assert not errors, errors
    return json.loads(json.dumps(build_bundle([("test.yaml", r) for r in rules], [])))


def call(**over) -> dict:
    base = {"driver": "libxl", "object": "prod-web1", "op": "prepare", "subop": "begin",
            "extra": "-", "host": "dom0-a", "domain_uuid": None}
    base.update(over)
    return base


def run(rules_yaml: str, xml: str = GUEST, **over):
    return evaluate(compile_yaml(rules_yaml), call(**over), xml)


def verdicts(v) -> dict:
    return {d["rule_id"]: d["verdict"] for d in v.decisions}
