"""Both metrics providers read the monitor's records and labelled counts: the scrape provider from
the monitor's /metrics, the PromQL provider from a REAL Prometheus server scraping the monitor."""
from __future__ import annotations

import sys
from pathlib import Path

import aiohttp
import pytest

from mlops_operator.metrics.prometheus import PrometheusMetricsProvider
from mlops_operator.metrics.scrape import ScrapeMetricsProvider, parse_recorded, static_addresses
from mlops_operator.monitor.auth import write_token

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "monitor"))
from monitor_process import MonitorProcess, new_id, v2_request, v2_response  # noqa: E402

from test_prometheus_provider import prom_value, start_prometheus, wait_for  # noqa: E402

pytestmark = pytest.mark.e2e
NS, NAME = "team-a", "iris"


@pytest.fixture
def monitor(tmp_path: Path):
    token = tmp_path / "token"
    write_token(token)
    m = MonitorProcess(tmp_path / "data", token).start()
    yield m
    m.kill()


def record(m: MonitorProcess, predictor: str, answer: int) -> str:
    rid = new_id()
    for kind, body in (("request", v2_request({"x": 1.0})), ("response", v2_response(answer))):
        assert m.log_event(kind, body, request_id=rid, predictor=predictor, namespace=NS,
                           deployment=NAME).status_code == 201
    return rid


async def test_providers_read_records_and_labels_from_the_monitor(monitor: MonitorProcess, tmp_path: Path):
    stable = [record(monitor, "stable", 1) for _ in range(6)]
    canary = [record(monitor, "canary", 0) for _ in range(3)]
    resp = monitor.post_json("/feedback", [{"requestId": rid, "label": 1} for rid in stable[:4] + canary[:1]])
    assert resp.status_code == 200, resp.text

    scrape = ScrapeMetricsProvider(static_addresses({}), monitor_url=monitor.url)
    assert await scrape.recorded(NS, NAME, "stable") == (6, 4)
    assert await scrape.recorded(NS, NAME, "canary") == (3, 1)
    assert await scrape.recorded(NS, NAME, "nobody") is None
    await scrape.close()
    assert await ScrapeMetricsProvider(static_addresses({})).recorded(NS, NAME, "stable") is None

    proc, prom = start_prometheus(tmp_path, {"monitor": monitor.url.split("//")[1]})
    try:
        async def scraped():
            try:
                return await prom_value(prom, f'sum(mlops_monitor_labelled_total{{deployment="{NAME}"}})') == 5
            except aiohttp.ClientError:  # Prometheus still starting
                return False
        await wait_for(scraped, 60, "Prometheus to scrape the monitor")
        provider = PrometheusMetricsProvider(prom)
        assert await provider.recorded(NS, NAME, "stable") == (6, 4)
        assert await provider.recorded(NS, NAME, "canary") == (3, 1)
        assert await provider.recorded(NS, NAME, "nobody") is None
        await provider.close()
    finally:
        proc.kill()
        proc.wait(30)


def test_parse_recorded_sums_only_the_asked_predictor():
    text = "\n".join([
        '# TYPE mlops_monitor_records counter',
        f'mlops_monitor_records_total{{namespace="{NS}",deployment="{NAME}",predictor="a"}} 7.0',
        f'mlops_monitor_records_total{{namespace="{NS}",deployment="other",predictor="a"}} 100.0',
        '# TYPE mlops_monitor_labelled counter',
        f'mlops_monitor_labelled_total{{namespace="{NS}",deployment="{NAME}",predictor="a"}} 2.0',
    ]) + "\n"
    assert parse_recorded(text, NS, NAME, "a") == (7, 2)
    assert parse_recorded(text, NS, NAME, "b") is None
