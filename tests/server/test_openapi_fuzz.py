"""Schemathesis against every operation of the OpenAPI (ingest, queries, policies, downloads,
alerts, overview ...): no input gives a 5xx, and every successful JSON response matches its
documented schema. The pages and forms, which the schema does not describe, are fuzzed by
test_fuzz_routes.py."""
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.factories import make_chain, post_events

pytestmark = pytest.mark.slow
FUZZED = re.compile(r"^/")   # every operation of the schema
HOST_PATHS = ("/api/v1/ingest", "/api/v1/heartbeat", "/api/v1/policy-bundle")


def operations(app, headers):
    # /openapi.json needs a user, like the API it describes
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)
    for result in schema.get_all_operations():
        op = result.ok()
        if FUZZED.match(op.path):
            yield op


def own_host(case):
    """Bodies claim host-a, so the fuzzer reaches validation and storage, not just the 403."""
    body = case.body if isinstance(case.body, dict) else None
    if body and isinstance(body.get("events"), list):
        for event in body["events"]:
            if isinstance(event, dict):
                event["host"] = "host-a"
    elif body is not None and "host" in body:
        body["host"] = "host-a"
    return case


def fuzz(op, headers, examples: int) -> None:
    @given(case=op.as_strategy().map(own_host))
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.path, case.query, response.text[:500])
        if response.status_code < 300 and "json" in response.headers.get("content-type", ""):
            case.validate_response(response,
                                   checks=[schemathesis.checks.response_schema_conformance])
    run()


def test_no_input_causes_a_server_error(app, client, host_a, admin):
    post_events(client, host_a, make_chain("host-a", 6))   # something for queries to find
    fuzzed = []
    for op in operations(app, admin.headers):
        headers = host_a.headers if op.path in HOST_PATHS else admin.headers
        fuzz(op, headers, examples=80 if op.path in HOST_PATHS[:2] else 25)
        fuzzed.append(op.path)
    assert {"/api/v1/ingest", "/api/v1/events", "/api/v1/guests/{domain_uuid}/timeline",
            "/api/v1/policies/evaluate", "/api/v1/alerts/deliveries", "/api/v1/overview",
            "/healthz"} <= set(fuzzed)
