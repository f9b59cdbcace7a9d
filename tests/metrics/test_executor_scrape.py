"""The scrape provider on a cluster: Seldon Core v1 executors, each behind its predictor's Service.

Real HTTP servers on loopback stand in for the executors. They serve what an executor's
`/prometheus` serves, in client_golang's text format: the server histogram (labels sorted, `le`
last, Go float formatting), its `_summary` twin, the client histogram, and Go runtime series. The
test records each request it "serves" and writes the exposition from those records, so the
expected counts and p95 are worked out here by hand from the requests, not read back from the
provider.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict

import pytest
from aiohttp import web

from mlops_operator.metrics.base import MetricsProvider
from mlops_operator.metrics.executor import (
    EXECUTOR_METRICS_URL,
    ExecutorScrapeMetricsProvider,
    check_url_template,
    parse_executor_snapshot,
    predictor_service,
    seldon_service_resolver,
)
from mlops_operator.metrics.select import make_metrics_provider
from tests.local_http import serve

NS, NAME = "ml", "iris"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)  # Seldon's DefBuckets
OBJECTIVES = (0.5, 0.9, 0.99)


def go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64), as client_golang writes numbers."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)).removesuffix(".0") if value == int(value) else repr(float(value))


class Executor:
    """One predictor's executor: the requests it answered, and its /prometheus text."""

    def __init__(self, deployment: str, predictor: str) -> None:
        self.deployment, self.predictor = deployment, predictor
        self.answered: dict[tuple[str, str, str], list[float]] = defaultdict(list)  # (service, method, code)

    def rest(self, n: int, seconds: float, code: int = 200, service: str = "predictions") -> None:
        self.answered[(service, "post", str(code))] += [seconds] * n

    def grpc(self, n: int, seconds: float, code: str = "OK",
             method: str = "/inference.GRPCInferenceService/ModelInfer") -> None:
        self.answered[(method, "unary", code)] += [seconds] * n

    def restart(self) -> None:
        self.answered.clear()

    def exposition(self) -> str:
        name = "seldon_api_executor_server_requests_seconds"
        out = [f"# HELP {name} A histogram of latencies for executor server", f"# TYPE {name} histogram"]
        summary = [f"# HELP {name}_summary A summary of latencies for executor server",
                   f"# TYPE {name}_summary summary"]
        for (service, method, code), seen in sorted(self.answered.items(), key=lambda kv: kv[0][::-1]):  # labels' order
            labels = (f'code="{code}",deployment_name="{self.deployment}",method="{method}",'
                      f'predictor_name="{self.predictor}",predictor_version="",service="{service}"')
            for bound in (*BUCKETS, math.inf):
                out.append(f'{name}_bucket{{{labels},le="{go_float(bound)}"}} {sum(1 for s in seen if s <= bound)}')
            out.append(f"{name}_sum{{{labels}}} {go_float(sum(seen))}")
            out.append(f"{name}_count{{{labels}}} {len(seen)}")
            ordered = sorted(seen)
            for q in OBJECTIVES:
                value = ordered[min(len(ordered) - 1, int(q * len(ordered)))]
                summary.append(f'{name}_summary{{{labels},quantile="{go_float(q)}"}} {go_float(value)}')
            summary.append(f"{name}_summary_sum{{{labels}}} {go_float(sum(seen))}")
            summary.append(f"{name}_summary_count{{{labels}}} {len(seen)}")
        client = "seldon_api_executor_client_requests_seconds"
        total = sum(len(v) for v in self.answered.values())
        client_labels = (f'code="200",deployment_name="{self.deployment}",method="post",model_image="",'
                         f'model_name="model",model_version="",predictor_name="{self.predictor}",'
                         f'predictor_version="",service="/v2/models/model/infer"')
        tail = [f"# HELP {client} A histogram of latencies for client calls from executor",
                f"# TYPE {client} histogram",
                *(f'{client}_bucket{{{client_labels},le="{go_float(b)}"}} {total}' for b in (*BUCKETS, math.inf)),
                f"{client}_sum{{{client_labels}}} 0.5", f"{client}_count{{{client_labels}}} {total}",
                "# HELP go_goroutines Number of goroutines that currently exist.", "# TYPE go_goroutines gauge",
                "go_goroutines 23"]
        return "\n".join(out + summary + tail) + "\n"


@pytest.fixture
async def cluster():
    """A loopback stand-in for the cluster's Services: GET /<namespace>/<service>/prometheus."""
    executors: dict[tuple[str, str], Executor] = {}
    asked: list[str] = []

    async def prometheus(request: web.Request) -> web.Response:
        asked.append(request.path)
        executor = executors.get((request.match_info["namespace"], request.match_info["service"]))
        if executor is None:
            return web.Response(status=503, text="no endpoints")
        return web.Response(text=executor.exposition(), content_type="text/plain", charset="utf-8")

    async def monitor_metrics(request: web.Request) -> web.Response:
        return web.Response(text=(
            "# HELP mlops_monitor_records_total Inference records.\n# TYPE mlops_monitor_records_total counter\n"
            f'mlops_monitor_records_total{{deployment="{NAME}",namespace="{NS}",predictor="stable"}} 42.0\n'
            "# HELP mlops_monitor_labelled_total Labelled records.\n# TYPE mlops_monitor_labelled_total counter\n"
            f'mlops_monitor_labelled_total{{deployment="{NAME}",namespace="{NS}",predictor="stable"}} 17.0\n'))

    app = web.Application()
    app.router.add_get("/{namespace}/{service}/prometheus", prometheus)
    app.router.add_get("/monitor/metrics", monitor_metrics)
    runner, url = await serve(app)

    def add(namespace: str, deployment: str, predictor: str) -> Executor:
        executor = Executor(deployment, predictor)
        executors[(namespace, predictor_service(deployment, predictor))] = executor
        return executor

    yield url, add, asked
    await runner.cleanup()


class Clock:
    def __init__(self, now: float = 2_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_error_rate_p95_and_counts_per_predictor_from_executors(cluster):
    url, add, asked = cluster
    stable, candidate = add(NS, NAME, "stable"), add(NS, NAME, "candidate")
    # stable: 100 predictions, 2 of them 500s; 90 took 20 ms and 10 took 200 ms. Cumulative buckets:
    # le=0.025 -> 90, le=0.25 -> 100, so rank 95 lies in (0.1, 0.25]: 0.1 + 0.15 * (95 - 90) / 10 = 0.175 s.
    stable.rest(88, 0.02)
    stable.rest(2, 0.02, code=500)
    stable.rest(10, 0.2)
    stable.rest(7, 0.001, service="metadata")  # not a prediction: not counted
    # candidate: REST and gRPC, 50 predictions: 3 REST 503s and 5 gRPC Internal are server errors.
    candidate.rest(27, 0.04)
    candidate.rest(3, 0.04, code=503)
    candidate.grpc(15, 0.04)
    candidate.grpc(5, 0.04, code="Internal")
    candidate.rest(4, 0.04, code=400)  # a client's bad payload: a request, not a server error

    clock = Clock()
    provider = ExecutorScrapeMetricsProvider(seldon_service_resolver(url + "/{namespace}/{service}/prometheus"),
                                             clock=clock)
    assert isinstance(provider, MetricsProvider)
    try:
        s = await provider.arm_metrics(NS, NAME, "stable", None)
        assert (s.requests, s.errors, s.error_rate, s.mirrored) == (100, 2, 0.02, None)
        assert s.latency_p95_ms == pytest.approx(175.0)
        c = await provider.arm_metrics(NS, NAME, "candidate", None)
        assert (c.requests, c.errors) == (54, 8)
        assert c.error_rate == pytest.approx(8 / 54)
        # every request took 40 ms: p95 interpolates inside (0.025, 0.05]: 0.025 + 0.025 * 0.95 = 0.04875 s
        assert c.latency_p95_ms == pytest.approx(48.75)
        assert asked == [f"/{NS}/iris-stable/prometheus", f"/{NS}/iris-candidate/prometheus"]

        # A rollout step starts: counts since then leave out what came before.
        clock.now += 30
        step = clock.now
        assert (await provider.arm_metrics(NS, NAME, "stable", step)).requests == 0
        clock.now += 30
        stable.rest(19, 0.004)
        stable.rest(1, 0.004, code=502)
        d = await provider.arm_metrics(NS, NAME, "stable", step)
        assert (d.requests, d.errors, d.error_rate) == (20, 1, 0.05)
        assert d.latency_p95_ms == pytest.approx(4.75)  # all 20 in (0, 0.005]: 0.005 * 19 / 20

        # The pod restarted (counters start again): the old baseline is dropped, not subtracted.
        stable.restart()
        stable.rest(3, 0.02)
        clock.now += 30
        after = await provider.arm_metrics(NS, NAME, "stable", step)
        assert (after.requests, after.errors) == (3, 0)
        clock.now += 30
        stable.rest(2, 0.02)
        assert (await provider.arm_metrics(NS, NAME, "stable", step)).requests == 5  # and stays so
    finally:
        await provider.close()


async def test_a_predictor_without_endpoints_is_an_error_not_zero(cluster):
    url, add, _ = cluster
    provider = ExecutorScrapeMetricsProvider(seldon_service_resolver(url + "/{namespace}/{service}/prometheus"))
    try:
        with pytest.raises(RuntimeError, match="503"):
            await provider.arm_metrics(NS, NAME, "stable", None)
    finally:
        await provider.close()


async def test_monitor_counts_come_from_the_monitor_url(cluster):
    url, _, _ = cluster
    provider = make_metrics_provider("scrape", seldon_metrics_url=url + "/{namespace}/{service}/prometheus",
                                     monitor_url=url + "/monitor")
    try:
        assert isinstance(provider, ExecutorScrapeMetricsProvider)
        assert await provider.recorded(NS, NAME, "stable") == (42, 17)
        assert await provider.recorded(NS, NAME, "candidate") is None
    finally:
        await provider.close()


def test_other_deployments_and_predictors_are_left_out():
    a, b = Executor(NAME, "stable"), Executor("other", "stable")
    a.rest(5, 0.01)
    b.rest(9, 0.01, code=500)
    text = a.exposition() + b.exposition().split("# HELP seldon_api_executor_client", 1)[0]
    snap = parse_executor_snapshot(text, NAME, "stable", 0.0)
    assert (snap.requests, snap.errors, snap.buckets[math.inf]) == (5, 0, 5)
    assert parse_executor_snapshot(text, NAME, "candidate", 0.0).requests == 0


async def test_the_resolver_builds_seldons_service_address():
    resolve = seldon_service_resolver()
    assert EXECUTOR_METRICS_URL == "http://{service}.{namespace}.svc.cluster.local:8000/prometheus"
    assert await resolve("team-a", "iris", "canary-2") == \
        "http://iris-canary-2.team-a.svc.cluster.local:8000/prometheus"
    # Past 63 characters Seldon names the Service seldon-<md5 hex of deployment-predictor>.
    long_name = "a-very-long-model-deployment-name-for-the-churn-prediction-team"
    key = f"{long_name}-candidate"
    assert len(key) > 63
    assert predictor_service(long_name, "candidate") == "seldon-" + hashlib.md5(key.encode()).hexdigest()
    assert predictor_service("x" * 30, "y" * 32) == "x" * 30 + "-" + "y" * 32  # exactly 63: kept
    custom = seldon_service_resolver("https://{service}.{namespace}.svc.example.internal:9000/metrics?d={deployment}")
    assert await custom("ml", "iris", "stable") == "https://iris-stable.ml.svc.example.internal:9000/metrics?d=iris"


async def test_more_than_one_replica_is_refused_not_mixed(cluster):
    """A Service shows one pod per scrape: counts of several pods would mix, so there is no measurement."""
    url, add, asked = cluster
    add(NS, NAME, "stable").rest(10, 0.01)
    replicas = {(NS, NAME): 3}
    provider = make_metrics_provider("scrape", seldon_metrics_url=url + "/{namespace}/{service}/prometheus",
                                     replicas=replicas)
    try:
        with pytest.raises(LookupError, match="3 replicas.*metrics.provider=prometheus"):
            await provider.arm_metrics(NS, NAME, "stable", None)
        assert asked == []
        replicas[(NS, NAME)] = 1  # the reconcile saw the deployment scaled back to one replica
        assert (await provider.arm_metrics(NS, NAME, "stable", None)).requests == 10
    finally:
        await provider.close()


@pytest.mark.parametrize("template, message", [
    ("http://{namespace}:8000/prometheus", "must contain {service}"),
    ("http://{service}.{ns}:8000/prometheus", r"unknown fields \['ns'\]"),
    ("iris-stable:8000/prometheus", "http:// or https://"),
    ("http://{service:8000/prometheus", "not a valid template"),
])
def test_bad_url_templates_name_the_setting(template, message):
    with pytest.raises(ValueError, match=f"^MLOPS_SELDON_METRICS_URL: .*{message}"):
        check_url_template(template)
    with pytest.raises(ValueError, match="MLOPS_SELDON_METRICS_URL"):
        make_metrics_provider("scrape", seldon_metrics_url=template)
