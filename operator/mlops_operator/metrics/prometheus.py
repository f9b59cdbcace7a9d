"""Cluster-mode metrics: PromQL over HTTP against a Prometheus server.

For a step that began at `since`, each count is `sum(increase(<counter>{<predictor>}[<window>]))`
with the window reaching back to `since`, and p95 latency is
`histogram_quantile(0.95, sum by (le) (increase(<bucket>{...}[<window>])))`. Two metric
families are understood (see `mlops_operator.metrics.names`): Seldon Core's executor histogram
(`seldon_flavour()`, errors = 5xx codes) on clusters, and our splitter's series
(`splitter_flavour()`) when Prometheus scrapes the local splitter. Prometheus' increase()
extrapolates to the window edges, so counts are estimates, rounded to whole requests; the
window starts `padding_seconds` (about two scrape intervals) before `since` so that a sample
from before the step anchors it.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import aiohttp

from mlops_operator.api.modeldeployment import ArmMetrics

from . import names
from .base import arm_metrics_from_counts
from .names import ROLE_SHADOW, MetricFlavour, seldon_flavour


class PrometheusError(RuntimeError):
    pass


class PrometheusMetricsProvider:
    """MetricsProvider answering with instant PromQL queries (Seldon's executor series by default)."""

    def __init__(
        self,
        url: str,
        *,
        flavour: MetricFlavour | None = None,
        padding_seconds: float = 30.0,
        min_window_seconds: int = 1,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ):
        self.url = url.rstrip("/")
        self.flavour = flavour or seldon_flavour()  # clusters; splitter_flavour() for a local splitter
        self._padding = max(0.0, padding_seconds)
        self._min_window = max(1, int(min_window_seconds))
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """One HTTP session for the provider's life; `close()` ends it."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- queries -----------------------------------------------------------------------------

    def window(self, since: float | None, now: float) -> str | None:
        """PromQL range covering [since - padding, now], or None for 'everything' (raw counters).

        increase() only sees samples inside its range: requests made between `since` and the
        first scrape after it would be lost (or guessed by extrapolation). Reaching back about
        two scrape intervals (`padding_seconds`) puts the last sample taken before `since`
        into the range, so the step's first requests are counted from a real sample.
        """
        if since is None:
            return None
        return f"{max(self._min_window, math.ceil(now - since + self._padding))}s"

    def _over(self, metric: str, selector: str, window: str | None) -> str:
        return f"{metric}{selector}" if window is None else f"increase({metric}{selector}[{window}])"

    def queries(self, namespace: str, deployment: str, predictor: str, since: float | None,
                now: float) -> dict[str, str]:
        """The PromQL for each figure of ArmMetrics (public so docs and tests can show them)."""
        f = self.flavour
        w = self.window(since, now)
        sel = f.selector(namespace, deployment, predictor)
        if f.errors:
            errors = f"sum({self._over(f.errors, sel, w)})"
        else:
            err_sel = f.selector(namespace, deployment, predictor, f'{f.error_code_label}=~"5.."')
            errors = f"sum({self._over(f.requests, err_sel, w)})"
        out = {
            "requests": f"sum({self._over(f.requests, sel, w)})",
            "errors": errors,
            "latency_p95_seconds": f"histogram_quantile(0.95, sum by (le) ({self._over(f.latency_bucket, sel, w)}))",
        }
        if f.deployment_label == "deployment" and not f.extra_matchers:  # our splitter knows mirrored copies
            shadow_sel = f.selector(namespace, deployment, predictor, f'role="{ROLE_SHADOW}"')
            out["mirrored"] = f"sum({self._over(f.requests, shadow_sel, w)})"
        return out

    async def query(self, session: aiohttp.ClientSession, promql: str, at: float) -> float | None:
        """One instant query; None when the result is empty or NaN."""
        async with session.get(f"{self.url}/api/v1/query", params={"query": promql, "time": f"{at:.3f}"}) as resp:
            body: dict[str, Any] = await resp.json(content_type=None)
        if body.get("status") != "success":
            raise PrometheusError(f"query {promql!r} failed: {body.get('errorType')}: {body.get('error')}")
        result = body["data"]["result"]
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    async def arm_metrics(self, namespace: str, deployment: str, predictor: str, since: float | None) -> ArmMetrics:
        now = self._clock()
        qs = self.queries(namespace, deployment, predictor, since, now)
        session = self.session()
        values = {k: await self.query(session, q, now) for k, q in qs.items()}
        return arm_metrics_from_counts(
            values["requests"] or 0.0,
            values["errors"] or 0.0,
            values["latency_p95_seconds"],
            values.get("mirrored"),  # None when the predictor has no shadow series
        )

    async def recorded(self, namespace: str, deployment: str, predictor: str) -> tuple[int, int] | None:
        """The monitor's records and labelled counts, as Prometheus scraped them."""
        sel = ",".join(f'{k}="{v}"' for k, v in zip(names.MONITOR_LABELS, (namespace, deployment, predictor)))
        session = self.session()
        records = await self.query(session, f"sum({names.MONITOR_RECORDS}{{{sel}}})", self._clock())
        labelled = await self.query(session, f"sum({names.MONITOR_LABELLED}{{{sel}}})", self._clock())
        if records is None:
            return None
        return int(records), int(labelled or 0)
