"""deploy/prometheus and deploy/grafana: the rules pass promtool, their unit tests pass, and
every metric the rules and the dashboard name is one the server or the host exports."""
import json
import re
import subprocess

import yaml

from hookshim.cli_commands import METRICS as HOST_METRICS
from tests.conftest import REPO
from tests.factories import make_chain, post_events
from tests.fixtures_app import METRICS_HEADERS
from tests.rollout.conftest import require

PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "hookaudit.json"
METRIC_NAME = re.compile(r"\b(?:hookaudit|hookshim)_[a-z0-9_]+")


def promtool(*args):
    proc = subprocess.run([require("promtool"), *args], cwd=PROMETHEUS, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_alert_rules_pass_promtool_check():
    assert "SUCCESS" in promtool("check", "rules", "alerts.yml")


def test_alert_rules_unit_tests_pass():
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_every_alert_has_a_unit_test_that_expects_it_to_fire():
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    fired = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"]
             if case.get("exp_alerts")}
    assert alerts == fired


def exported_names(client, host) -> set:
    """Every sample name /metrics can show (after some ingest) plus the host's textfile."""
    assert post_events(client, host, make_chain(host.name, 2, outcome="aborted")).status_code == 200
    client.post("/api/v1/heartbeat", json={"host": host.name, "spool_depth": 1},
                headers=host.headers)
    names = set()
    for line in client.get("/metrics", headers=METRICS_HEADERS).text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names | {m[0] for m in HOST_METRICS}


def referenced(texts) -> set:
    return {name for text in texts for name in METRIC_NAME.findall(text)}


def test_alert_rules_name_only_exported_metrics(client, host_a):
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert referenced(exprs) - exported_names(client, host_a) == set()


def test_dashboard_is_valid_json_whose_queries_name_only_exported_metrics(client, host_a):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10 and all(METRIC_NAME.search(e) for e in exprs)
    assert referenced(exprs) - exported_names(client, host_a) == set()


def test_dashboard_covers_the_issue_panels():
    titles = " ".join(p["title"].lower() for p in json.loads(DASHBOARD.read_text())["panels"])
    for words in ("outcome", "by host", "ingest rate", "latency", "lag", "version"):
        assert words in titles


def test_host_textfile_says_when_the_policy_bundle_is_refused():
    from hookshim.cli_commands import render_textfile

    def refused(stats):
        line = [x for x in render_textfile(stats).splitlines()
                if x.startswith("hookshim_policy_bundle_refused{")]
        return line[0].rsplit(" ", 1)[1]

    assert refused({"host": "h", "bundle_error": "signature does not verify"}) == "1"
    assert refused({"host": "h", "bundle_error": None}) == "0"


def test_scrape_config_sends_the_metrics_token_and_passes_promtool(tmp_path):
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "hookaudit")
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    # promtool stats the credentials file: check a copy that points at one that exists
    (tmp_path / "token").write_text("test-metrics-token\n")
    job["authorization"]["credentials_file"] = str(tmp_path / "token")
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    assert "SUCCESS" in promtool("check", "config", str(tmp_path / "prometheus.yml"))


def test_the_scrape_config_token_is_what_the_server_requires(make_app, tmp_path):
    from fastapi.testclient import TestClient

    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "hookaudit")
    scheme = job["authorization"]["type"]
    with TestClient(make_app(metrics_token="from-the-file")) as c:
        assert c.get("/metrics").status_code == 401
        ok = c.get("/metrics", headers={"Authorization": f"{scheme} from-the-file"})
    assert ok.status_code == 200
