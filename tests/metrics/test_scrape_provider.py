"""The scrape provider against a real splitter, with small real HTTP upstreams on loopback.

The upstreams here answer 200 or 500 on purpose: the thing under test is how the provider
turns the splitter's cumulative counters into counts since a moment.
"""
from __future__ import annotations

import math

import aiohttp
import pytest
from aiohttp import web

from mlops_operator.metrics.base import MetricsProvider
from mlops_operator.metrics.histogram import quantile_from_buckets
from mlops_operator.metrics.scrape import ScrapeMetricsProvider, parse_snapshot, static_addresses
from mlops_operator.serving.splitter import Route, TrafficSplitter
from tests.local_http import serve

NS, NAME = "ml", "iris"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def upstreams():
    """Two tiny predictors: `ok` always answers 200, `bad` always 500."""
    runners, urls = [], {}
    for name, status in (("ok", 200), ("bad", 500)):
        async def handler(request, status=status):
            await request.read()
            return web.json_response({"outputs": [{"name": "predict", "data": [1]}]}, status=status)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner, urls[name] = await serve(app)
        runners.append(runner)
    yield urls
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def splitter(upstreams):
    s = TrafficSplitter(NS, NAME)
    await s.start()
    s.configure([Route("stable", upstreams["ok"], 100), Route("shadow", upstreams["bad"], 0, shadow=True)])
    yield s
    await s.stop()


async def send(url: str, n: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.post(f"{url}/v2/models/model/infer", json={"inputs": []}) as resp:
                assert resp.status == 200


async def wait_mirrored(splitter: TrafficSplitter, n: int) -> None:
    import asyncio

    for _ in range(200):
        if len(splitter.mirror_records()) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("mirrored requests did not finish")


async def test_counts_since_a_moment(splitter):
    clock = Clock()
    provider = ScrapeMetricsProvider(static_addresses({(NS, NAME): splitter.url}), clock=clock)
    assert isinstance(provider, MetricsProvider)

    await send(splitter.url, 12)
    await wait_mirrored(splitter, 12)
    clock.now += 10
    total = await provider.arm_metrics(NS, NAME, "stable", None)
    assert (total.requests, total.errors, total.error_rate, total.mirrored) == (12, 0, 0.0, None)
    assert total.latency_p95_ms is not None and total.latency_p95_ms > 0

    step_start = clock.now  # a step starts now: the provider saw the counters at this moment
    await provider.arm_metrics(NS, NAME, "shadow", step_start)
    clock.now += 10
    await send(splitter.url, 5)
    await wait_mirrored(splitter, 17)
    clock.now += 10
    stable = await provider.arm_metrics(NS, NAME, "stable", step_start)
    assert (stable.requests, stable.errors) == (5, 0)
    shadow = await provider.arm_metrics(NS, NAME, "shadow", step_start)
    assert (shadow.requests, shadow.errors, shadow.error_rate, shadow.mirrored) == (5, 5, 1.0, 5)
    # Asking again gives the same answer: the baseline is kept, not moved.
    again = await provider.arm_metrics(NS, NAME, "shadow", step_start)
    assert (again.requests, again.errors) == (5, 5)
    await provider.close()


async def test_series_created_after_since_count_from_zero(splitter):
    """A step that started before the splitter existed counts everything the splitter saw."""
    import time

    provider = ScrapeMetricsProvider(static_addresses({(NS, NAME): splitter.url}))
    await send(splitter.url, 7)
    result = await provider.arm_metrics(NS, NAME, "stable", since=time.time() - 3600)
    assert result.requests == 7
    await provider.close()


async def test_unknown_deployment_address_is_a_clear_error(splitter):
    provider = ScrapeMetricsProvider(static_addresses({}))
    with pytest.raises(LookupError, match="ml/iris"):
        await provider.arm_metrics(NS, NAME, "stable", None)


async def test_p95_matches_the_splitters_own_histogram(splitter):
    await send(splitter.url, 40)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{splitter.url}/metrics") as resp:
            text = await resp.text()
    snap = parse_snapshot(text, NS, NAME, "stable", 0.0)
    assert snap.requests == 40 and snap.buckets[math.inf] == 40
    buckets = {float(s.labels["le"]): s.value for m in splitter.registry.collect() for s in m.samples
               if s.name.endswith("_bucket") and s.labels["predictor"] == "stable"}
    provider = ScrapeMetricsProvider(static_addresses({(NS, NAME): splitter.url}))
    result = await provider.arm_metrics(NS, NAME, "stable", None)
    assert result.latency_p95_ms == pytest.approx(quantile_from_buckets(0.95, buckets) * 1000, abs=1e-3)
    await provider.close()


def test_quantile_interpolates_like_prometheus():
    buckets = {0.1: 50.0, 0.2: 100.0, math.inf: 100.0}
    assert quantile_from_buckets(0.95, buckets) == pytest.approx(0.19)
    assert quantile_from_buckets(0.5, buckets) == pytest.approx(0.1)
    assert quantile_from_buckets(0.25, buckets) == pytest.approx(0.05)
    assert quantile_from_buckets(0.95, {0.1: 0.0, 0.2: 10.0, math.inf: 100.0}) == 0.2  # +Inf: largest bound
    assert quantile_from_buckets(0.95, {0.1: 0.0, math.inf: 0.0}) is None
    with pytest.raises(ValueError, match="buckets"):
        quantile_from_buckets(0.5, {0.1: 1.0})


def test_provider_selection_names_missing_settings():
    from mlops_operator.metrics.names import seldon_flavour
    from mlops_operator.metrics.prometheus import PrometheusMetricsProvider
    from mlops_operator.metrics.select import make_metrics_provider

    with pytest.raises(ValueError, match="^address_resolver:"):
        make_metrics_provider("scrape")
    with pytest.raises(ValueError, match="^prometheus_url:"):
        make_metrics_provider("prometheus")
    chosen = make_metrics_provider("prometheus", prometheus_url="http://127.0.0.1:9090")
    assert isinstance(chosen, PrometheusMetricsProvider) and chosen.flavour == seldon_flavour()
    assert isinstance(make_metrics_provider("scrape", address_resolver=static_addresses({})), ScrapeMetricsProvider)


def test_seldon_queries_use_executor_series_and_5xx_codes():
    from mlops_operator.metrics.names import seldon_flavour
    from mlops_operator.metrics.prometheus import PrometheusMetricsProvider

    provider = PrometheusMetricsProvider("http://127.0.0.1:9", flavour=seldon_flavour(), padding_seconds=30)
    qs = provider.queries(NS, NAME, "canary", since=1000.0, now=1100.0)
    sel = 'namespace="ml",deployment_name="iris",predictor_name="canary"'
    assert qs["requests"] == f"sum(increase(seldon_api_executor_server_requests_seconds_count{{{sel}}}[130s]))"
    assert qs["errors"] == (f'sum(increase(seldon_api_executor_server_requests_seconds_count{{{sel},code=~"5.."}}'
                            f'[130s]))')
    assert qs["latency_p95_seconds"].startswith("histogram_quantile(0.95, sum by (le) (increase(")
    assert "mirrored" not in qs
