"""``hookaudit policy test DIR``: run a policy directory's test cases, like ``kyverno test``.

Test files are ``DIR/tests/*.yaml``, each a list of cases:

    - name: a production guest with PCI passthrough is refused
      argv: [libxl, prod-db1, prepare, begin, "-"]   # what libvirtd passes the hook
      host: dom0-a                      # optional (default test-host)
      time: "2026-11-29T02:30:00+01:00" # optional: the clock for time windows
      xml_file: xml/prod-hostdev.xml    # or inline xml: |
      expect:
        verdict: deny                   # allow | deny (what the hook answers libvirtd)
        reason: "PCI passthrough"       # optional: substring of the stderr line
        decisions: {no-hostdev-in-prod: deny}   # optional: rule id -> verdict
        output_xml_file: xml/out.xml    # optional: the rewritten XML (trees compared);
                                        # without it the XML must stay unchanged

Every case is evaluated by the hook's own evaluator on the compiled bundle as JSON, so what
passes here is what the hook will do.
"""
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.policy.compiler import compile_dir
from app.policy.findings import Finding
from app.policy.yamlload import YamlError, load_yaml
from hookshim.policy import evaluate


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expect(_M):
    verdict: str = Field(pattern="^(allow|deny)$")
    reason: str | None = None
    decisions: dict[str, str] | None = None
    output_xml: str | None = None
    output_xml_file: str | None = None


class Case(_M):
    name: str
    argv: list[str] = Field(min_length=2, max_length=5)
    host: str = "test-host"
    domain_uuid: str | None = None
    time: datetime | None = None
    xml: str | None = None
    xml_file: str | None = None
    expect: Expect


@dataclass
class CaseResult:
    file: str
    name: str
    problems: list[str] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)  # rules that denied or rewrote in this case

    @property
    def ok(self) -> bool:
        return not self.problems


def run_dir(directory) -> tuple[list[Finding], list[CaseResult]]:
    """Compile DIR and run DIR/tests/*.yaml against the bundle."""
    directory = Path(directory)
    bundle, findings = compile_dir(directory)
    if bundle is None:
        return findings, []
    bundle = json.loads(json.dumps(bundle))  # exactly what the hook reads
    results = []
    for path in sorted((directory / "tests").glob("*.y*ml")):
        results += run_file(bundle, path)
    return findings, results


def run_file(bundle: dict, path: Path) -> list[CaseResult]:
    try:
        data = load_yaml(path.read_text())
    except YamlError as exc:
        return [CaseResult(path.name, "(file)", [str(exc)])]
    if not isinstance(data, list):
        return [CaseResult(path.name, "(file)", ["a test file is a YAML list of cases"])]
    out = []
    for i, item in enumerate(data):
        try:
            case = Case.model_validate(item)
        except ValidationError as exc:
            msgs = [".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()]
            out.append(CaseResult(path.name, f"case #{i + 1}", msgs))
            continue
        fired: set[str] = set()
        try:
            problems = run_case(bundle, case, path.parent, fired)
        except OSError as exc:  # a missing xml_file / output_xml_file
            problems = [f"cannot read {exc.filename}: {exc.strerror}"]
        out.append(CaseResult(path.name, case.name, problems, fired))
    return out


def run_case(bundle: dict, case: Case, base: Path, fired: set | None = None) -> list[str]:
    """Problems of one case (empty: it passed); adds the rules that fired to ``fired``."""
    xml = case.xml if case.xml is not None else _read(base, case.xml_file)
    argv = case.argv + ["-"] * (5 - len(case.argv))
    call = {"driver": argv[0].rsplit("/", 1)[-1], "object": argv[1], "op": argv[2],
            "subop": argv[3], "extra": argv[4], "host": case.host,
            "domain_uuid": case.domain_uuid,
            "now": case.time.timestamp() if case.time else None}
    v = evaluate(bundle, call, xml)
    if fired is not None:
        fired.update(d["rule_id"] for d in v.decisions if d["verdict"] in ("deny", "mutate"))
    e = case.expect
    problems = []
    got = "deny" if v.deny else "allow"
    if got != e.verdict:
        problems.append(f"verdict: expected {e.verdict}, got {got} ({v.reason or 'no reason'})")
    if e.reason and e.reason not in (v.reason or ""):
        problems.append(f"reason: expected to contain {e.reason!r}, got {v.reason!r}")
    problems += _check_decisions(e.decisions, v.decisions)
    expected_xml = e.output_xml if e.output_xml is not None else (
        _read(base, e.output_xml_file) if e.output_xml_file else None)
    problems += _check_output(expected_xml, v.output_xml)
    return problems


def _read(base: Path, name: str | None) -> str:
    return (base / name).read_text() if name else ""


def _check_decisions(expected: dict | None, decisions: list[dict]) -> list[str]:
    if not expected:
        return []
    got = {d["rule_id"]: d["verdict"] for d in decisions}
    return [f"decision {rid}: expected {want}, got {got.get(rid, 'no decision (did not match)')}"
            for rid, want in expected.items() if got.get(rid) != want]


def _check_output(expected: str | None, output: str | None) -> list[str]:
    if expected is None:
        return [] if output is None else ["output: expected the XML unchanged, the hook rewrote it"]
    if output is None:
        return ["output: expected a rewrite, the XML was left unchanged"]
    try:
        diff = tree_difference(ET.fromstring(expected), ET.fromstring(output))
    except ET.ParseError as exc:
        return [f"output: does not parse: {exc}"]
    return [f"output: {diff}"] if diff else []


def tree_difference(a: ET.Element, b: ET.Element, where: str = "") -> str | None:
    """First difference between two element trees (whitespace-only text ignored), or None."""
    here = f"{where}/{a.tag}"
    if a.tag != b.tag:
        return f"{where}: element {a.tag} vs {b.tag}"
    if a.attrib != b.attrib:
        return f"{here}: attributes {a.attrib} vs {b.attrib}"
    if (a.text or "").strip() != (b.text or "").strip():
        return f"{here}: text {a.text!r} vs {b.text!r}"
    if len(a) != len(b):
        return f"{here}: {len(a)} vs {len(b)} children"
    for ca, cb in zip(a, b):
        diff = tree_difference(ca, cb, here)
        if diff:
            return diff
    return None


def unexercised(bundle_rules: list[str], results: list[CaseResult]) -> list[str]:
    """Rule ids that no test case saw deny or rewrite (reported, not a failure)."""
    fired = set().union(*(r.fired for r in results)) if results else set()
    return [rid for rid in bundle_rules if rid not in fired]
