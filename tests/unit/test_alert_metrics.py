"""Every series the shipped alerting rules read is exported by the API's /metrics, with the
labels the rules group and match by: a rule on a name orderflow never exports is silent for ever
(Prometheus cannot tell a missing series from a quiet one)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import fakeredis
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings
from tests.builders import BL
from worker.api import create_app
from worker.kseries.logins import Logins, LoginState
from worker.kseries.tokens import TokenPair
from worker.store import OrderStore

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\b(orderflow_[a-z0-9_]+)\b(?:\{([^}]*)\})?")
GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)")
MATCHER = re.compile(r'([a-z_]+)\s*=~?\s*"([^"]*)"')


def rules() -> list[tuple[str, str]]:
    """(alert, expr) of every alerting rule shipped."""
    document = yaml.safe_load(RULES.read_text())
    return [
        (rule["alert"], str(rule["expr"]))
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


class _Logins:
    """What /metrics reads of the K-Series logins: one business refused, one expiring."""

    def states(self) -> list[LoginState]:
        soon = datetime.now(UTC) + timedelta(hours=2)
        pair = TokenPair(access="a", refresh="r", refresh_expires_at=soon)
        return [LoginState(business_id="202", pair=pair, refused=True)]

    def covers(self, business_location_id: int) -> bool:
        return True


def scraped() -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets /metrics shows for it, with every kind of state present."""
    redis = fakeredis.FakeRedis(decode_responses=True)
    store = OrderStore(redis)
    now = datetime.now(UTC)
    store.count("transitions", "submitted->needs_attention")
    store.count("status_events", "undelivered")
    store.count_undelivered(BL)
    store.hold_order(BL, f"{BL}:held-1", now + timedelta(minutes=5))
    store.record_readiness(BL, {"status": "NOT_READY"}, now)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        webhook_username="kseries",
        webhook_password="hook-secret",
    )
    app = create_app(
        settings=settings,
        store=store,
        enqueue=lambda *_: None,
        enqueue_notification=lambda _: None,
        logins=cast(Logins, _Logins()),
    )
    http = TestClient(app)
    refused = http.post("/webhooks/kseries", json={}, auth=("kseries", "wrong"))
    assert refused.status_code == 401
    series: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            series.setdefault(sample.name, []).append(dict(sample.labels))
    return series


@pytest.mark.parametrize(("alert", "expr"), rules(), ids=[alert for alert, _ in rules()])
def test_every_series_an_alert_reads_is_exported_with_its_labels(alert: str, expr: str) -> None:
    series = scraped()
    grouped = {label.strip() for found in GROUPING.findall(expr) for label in found.split(",")}
    used = METRIC.findall(expr)
    assert used, f"{alert}: no orderflow metric in its expr"
    missing = sorted({name for name, _ in used if name not in series})
    assert not missing, f"{alert} reads {missing}, which /metrics does not export"
    for name, matchers in used:
        shown = series[name]
        for label in grouped - {""}:
            assert all(label in labels for labels in shown), f"{alert}: {name} lacks `{label}`"
        for label, value in MATCHER.findall(matchers):
            assert any(labels.get(label) == value for labels in shown), (
                f"{alert}: no {name} series with {label}={value!r}"
            )


def test_the_rules_read_the_per_location_and_per_business_series() -> None:
    # The names this test exists for: if a rule is renamed, the list above must still hold them.
    names = {name for _, expr in rules() for name, _ in METRIC.findall(expr)}
    assert {
        "orderflow_location_delivery_failures_in_a_row",
        "orderflow_location_ready",
        "orderflow_location_orders_held",
        "orderflow_kseries_tokens_refused",
        "orderflow_kseries_refresh_token_expires_in_seconds",
    } <= names
