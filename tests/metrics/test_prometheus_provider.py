"""The PromQL provider against a REAL Prometheus server (Debian package `prometheus`).

Prometheus scrapes (every second) a real splitter in front of real MLServer predictors, one
of them faulty, and an exporter publishing Seldon Core executor series, so both metric
families the provider understands are queried for real.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from serving_fixtures import FEATURES, breast_cancer_frame

from mlops_operator.decisions.seldon import Predictor, desired_seldon_deployment
from mlops_operator.metrics.histogram import quantile_from_buckets
from mlops_operator.metrics.names import SELDON_EXECUTOR_HISTOGRAM, seldon_flavour, splitter_flavour
from mlops_operator.metrics.prometheus import PrometheusMetricsProvider
from mlops_operator.metrics.scrape import ScrapeMetricsProvider, static_addresses
from mlops_operator.serving.model_server import free_port
from mlops_operator.serving.traffic import send_traffic_async
from tests.local_http import serve

pytestmark = pytest.mark.e2e

NS, NAME = "ml", "iris"
OWNER = {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "name": NAME, "uid": "u-1"}
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


@pytest.fixture
async def seldon_exporter():
    """Serves Seldon executor series (30 OK + 10 5xx requests for predictor `canary`)."""
    registry = CollectorRegistry()
    hist = Histogram(SELDON_EXECUTOR_HISTOGRAM, "Seldon executor request latency",
                     ["namespace", "deployment_name", "predictor_name", "code", "method", "service"],
                     registry=registry)
    for _ in range(30):
        hist.labels(NS, NAME, "canary", "200", "post", "/v2/models/model/infer").observe(0.02)
    for _ in range(10):
        hist.labels(NS, NAME, "canary", "500", "post", "/v2/models/model/infer").observe(0.3)

    async def metrics(request):
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner, url = await serve(app)
    yield url.removeprefix("http://"), registry
    await runner.cleanup()


def start_prometheus(tmp_path: Path, targets: dict[str, str]) -> tuple[subprocess.Popen, str]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("the prometheus binary is missing: apt-get install prometheus (make debs)")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                           for job, target in targets.items()],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    return proc, f"http://127.0.0.1:{port}"


async def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


async def prom_value(url: str, promql: str) -> float | None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/api/v1/query", params={"query": promql}) as resp:
            body = await resp.json()
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


async def test_promql_provider_against_real_prometheus(realiser, model_dirs, tmp_path, seldon_exporter):
    await realiser.apply(desired_seldon_deployment(
        NAME, NS,
        [Predictor("stable", f"file://{model_dirs['stable']}", 50),
         Predictor("faulty", f"file://{model_dirs['faulty']}", 50)],
        owner=OWNER, replicas=1, resources=None, labels={}))
    status = await realiser.recorder.wait_state(NS, NAME, {"Available", "Failed"})
    assert status["state"] == "Available", status
    splitter_url = status["address"]["url"]
    exporter, seldon_registry = seldon_exporter
    proc, prom = start_prometheus(tmp_path, {"splitter": splitter_url.split("//")[1], "seldon": exporter})
    try:
        async def ready():
            try:
                return await prom_value(prom, 'up{job="splitter"}') == 1.0 and \
                    await prom_value(prom, 'up{job="seldon"}') == 1.0
            except aiohttp.ClientError:
                return False

        await wait_for(ready, 60, f"Prometheus to scrape (log: {tmp_path / 'prometheus.log'})")
        await asyncio.sleep(3)  # a few samples at zero before the step starts
        step_start = time.time()
        n = 120
        summary = await send_traffic_async(splitter_url, breast_cancer_frame(), n, 4, features=FEATURES,
                                           progress=None)
        assert summary.sent == n

        splitter = realiser.get(NS, NAME).splitter
        exact = {p: splitter.registry.get_sample_value(
            "mlops_splitter_requests_total",
            {"namespace": NS, "deployment": NAME, "predictor": p, "role": "primary"}) for p in ("stable", "faulty")}
        faulty_errors = splitter.registry.get_sample_value(
            "mlops_splitter_errors_total", {"namespace": NS, "deployment": NAME, "predictor": "faulty",
                                            "role": "primary"})

        async def scraped_all():
            return await prom_value(prom, f'sum(mlops_splitter_requests_total{{deployment="{NAME}"}})') == n

        await wait_for(scraped_all, 30, "Prometheus to scrape the traffic")
        await asyncio.sleep(3)

        provider = PrometheusMetricsProvider(prom, flavour=splitter_flavour(), padding_seconds=2)
        # Everything: the raw counters, exactly what the splitter counted.
        total = await provider.arm_metrics(NS, NAME, "faulty", None)
        assert total.requests == exact["faulty"] and total.errors == faulty_errors
        assert total.mirrored is None
        # Since the step start: the window reaches back 2 s (2 scrapes) to a sample at zero, so
        # increase() only extrapolates forward to the window's end: never below the truth.
        faulty = await provider.arm_metrics(NS, NAME, "faulty", step_start)
        stable = await provider.arm_metrics(NS, NAME, "stable", step_start)
        assert exact["faulty"] <= faulty.requests <= 1.25 * exact["faulty"]
        assert exact["stable"] <= stable.requests <= 1.25 * exact["stable"]
        assert stable.errors == 0 and stable.error_rate == 0.0
        assert faulty.error_rate == pytest.approx(faulty_errors / exact["faulty"], abs=0.02)
        # Same buckets, same interpolation: Prometheus and the scrape provider agree on p95.
        scrape = ScrapeMetricsProvider(static_addresses({(NS, NAME): splitter_url}))
        local = await scrape.arm_metrics(NS, NAME, "stable", None)
        assert stable.latency_p95_ms == pytest.approx(local.latency_p95_ms, rel=1e-6)

        # Seldon Core's executor series (cluster mode): errors are the 5xx codes.
        seldon = PrometheusMetricsProvider(prom, flavour=seldon_flavour(), padding_seconds=0)
        canary = await seldon.arm_metrics(NS, NAME, "canary", None)
        assert (canary.requests, canary.errors, canary.error_rate) == (40, 10, 0.25)
        buckets: dict[float, float] = {}
        for metric in seldon_registry.collect():
            for sample in metric.samples:
                if sample.name.endswith("_bucket"):
                    le = float(sample.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + sample.value
        # 10 of 40 requests took 0.3 s, in the (0.25, 0.5] bucket: p95 interpolates to 0.45 s.
        assert canary.latency_p95_ms == pytest.approx(quantile_from_buckets(0.95, buckets) * 1000) == 450
        nothing = await seldon.arm_metrics(NS, NAME, "canary", time.time() - 1)
        assert nothing.requests == 0 and nothing.error_rate is None
        for used in (provider, scrape, seldon):
            await used.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
