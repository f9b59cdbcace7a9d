"""Pick the metrics provider the settings ask for (MLOPS_METRICS_PROVIDER=scrape|prometheus).

scrape reads Seldon Core's executors when MLOPS_SELDON_METRICS_URL is set (clusters: the chart sets
it) and the local splitter otherwise (the embedded stand-in)."""
from __future__ import annotations

from typing import Literal, Mapping

from .base import MetricsProvider
from .executor import ExecutorScrapeMetricsProvider, seldon_service_resolver
from .names import seldon_flavour, splitter_flavour
from .prometheus import PrometheusMetricsProvider
from .scrape import AddressResolver, ScrapeMetricsProvider


def make_metrics_provider(
    kind: Literal["scrape", "prometheus"],
    *,
    prometheus_url: str | None = None,
    address_resolver: AddressResolver | None = None,
    series: Literal["seldon", "splitter"] = "seldon",
    padding_seconds: float = 30.0,
    monitor_url: str | None = None,
    seldon_metrics_url: str | None = None,
    replicas: Mapping[tuple[str, str], int] | None = None,
) -> MetricsProvider:
    """scrape: each predictor's Seldon executor at `seldon_metrics_url` (a template, see
    `executor.EXECUTOR_METRICS_URL`; `replicas` refuses deployments it cannot measure), or without it
    the local splitter's /metrics (needs `address_resolver`, e.g. `scrape.kubernetes_address_resolver(api_url)`);
    prometheus: PromQL at `prometheus_url` over
    Seldon's executor series (clusters) or our splitter's series (a Prometheus scraping local mode).
    Records and labels come from the monitor's series: scraped at `monitor_url`, or from Prometheus."""
    if kind == "scrape":
        if seldon_metrics_url:
            return ExecutorScrapeMetricsProvider(seldon_service_resolver(seldon_metrics_url, replicas),
                                                 monitor_url=monitor_url)
        if address_resolver is None:
            raise ValueError("address_resolver: the scrape provider needs a way to find the splitter address")
        return ScrapeMetricsProvider(address_resolver, monitor_url=monitor_url)
    if kind == "prometheus":
        if not prometheus_url:
            raise ValueError("prometheus_url: MLOPS_PROMETHEUS_URL must be set for the prometheus metrics provider")
        if series not in ("seldon", "splitter"):
            raise ValueError(f"series: {series!r} must be seldon or splitter")
        flavour = seldon_flavour() if series == "seldon" else splitter_flavour()
        return PrometheusMetricsProvider(prometheus_url, flavour=flavour, padding_seconds=padding_seconds)
    raise ValueError(f"metrics provider: {kind!r} must be scrape or prometheus")
