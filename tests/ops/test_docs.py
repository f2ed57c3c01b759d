"""Every operations setting and metric is documented in docs/operations.md."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.metrics import Metrics
from tests.conftest import REPO

DOC = (REPO / "docs" / "operations.md").read_text()
OPS_SETTINGS = [
    name
    for name in Settings.model_fields
    if name.startswith(("webhook", "alert_", "retention", "metrics_", "public_"))
]


@pytest.mark.parametrize("name", OPS_SETTINGS)
def test_setting_is_documented(name):
    assert f"`HOOKAUDIT_{name.upper()}`" in DOC


def test_every_metric_is_documented():
    metrics = Metrics(hosts_last_seen=list)
    names = {
        fam.name
        for fam in text_string_to_metric_families(metrics.exposition().decode())
        if not fam.name.endswith("_created")
    }  # the client's own creation-time series
    missing = [n for n in names if f"`{n}`" not in DOC and f"`{n}_total`" not in DOC]
    assert names and not missing, missing
