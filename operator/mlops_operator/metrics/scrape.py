"""Local-mode metrics: read the splitter's own `/metrics` and subtract a remembered baseline.

The splitter's address comes from the SeldonDeployment status (`status.address.url`), through
an address resolver the caller provides (`kubernetes_address_resolver` reads it from a plain
http Kubernetes API such as the embedded one). Counters are cumulative, so the provider keeps
a short history of what it saw and answers "since" from the last snapshot taken at or before
that moment; series created after `since` (their `_created` stamp) count from zero, and a
counter that went down (splitter restarted) resets the baseline. On a cluster the same bookkeeping
reads Seldon Core's executors instead (`mlops_operator.metrics.executor`).
"""
from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from mlops_operator.api.modeldeployment import ArmMetrics
from mlops_operator.decisions.seldon import object_path

from . import names
from .base import arm_metrics_from_counts
from .histogram import quantile_from_buckets

AddressResolver = Callable[[str, str], Awaitable[str | None]]


@dataclass
class Snapshot:
    """Cumulative counts of one predictor at one moment."""

    time: float
    requests: float = 0.0
    errors: float = 0.0
    mirrored: float = 0.0
    has_shadow: bool = False
    buckets: dict[float, float] = field(default_factory=dict)
    created: float | None = None

    def minus(self, base: "Snapshot | None") -> "Snapshot":
        if base is None:
            return self
        return Snapshot(
            time=self.time,
            requests=self.requests - base.requests,
            errors=self.errors - base.errors,
            mirrored=self.mirrored - base.mirrored,
            has_shadow=self.has_shadow,
            buckets={le: c - base.buckets.get(le, 0.0) for le, c in self.buckets.items()},
            created=self.created,
        )

    def went_down_from(self, base: "Snapshot") -> bool:
        return self.requests < base.requests or self.errors < base.errors


def parse_snapshot(text: str, namespace: str, deployment: str, predictor: str, now: float) -> Snapshot:
    """Sum a predictor's splitter series (both roles) out of a Prometheus text exposition."""
    snap = Snapshot(time=now)
    wanted = {"namespace": namespace, "deployment": deployment, "predictor": predictor}
    requests_total = f"{names.SPLITTER_REQUESTS}_total"
    requests_created = f"{names.SPLITTER_REQUESTS}_created"
    errors_total = f"{names.SPLITTER_ERRORS}_total"
    bucket = f"{names.SPLITTER_LATENCY}_bucket"
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if any(labels.get(k) != v for k, v in wanted.items()):
                continue
            shadow = labels.get("role") == names.ROLE_SHADOW
            if sample.name == requests_total:
                snap.requests += sample.value
                if shadow:
                    snap.mirrored += sample.value
                    snap.has_shadow = True
            elif sample.name == errors_total:
                snap.errors += sample.value
            elif sample.name == bucket:
                le = float(labels["le"])
                snap.buckets[le] = snap.buckets.get(le, 0.0) + sample.value
            elif sample.name == requests_created:
                snap.created = sample.value if snap.created is None else min(snap.created, sample.value)
    return snap


def parse_recorded(text: str, namespace: str, deployment: str, predictor: str) -> tuple[int, int] | None:
    """(records, labelled) of a predictor out of the monitor's text exposition; None when it has no series."""
    wanted = dict(zip(names.MONITOR_LABELS, (namespace, deployment, predictor)))
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (names.MONITOR_RECORDS, names.MONITOR_LABELLED) and all(
                    sample.labels.get(k) == v for k, v in wanted.items()):
                found[sample.name] = found.get(sample.name, 0.0) + sample.value
    if names.MONITOR_RECORDS not in found:
        return None
    return int(found[names.MONITOR_RECORDS]), int(found.get(names.MONITOR_LABELLED, 0))


class ScrapeMetricsProvider:
    """MetricsProvider over the local splitter's `/metrics` (and the monitor's, for records and labels).

    Subclasses read another exposition by overriding `snapshot()` (`executor.ExecutorScrapeMetricsProvider`:
    Seldon Core's executors on a cluster); the baselines "since a moment" are kept here for all."""

    def __init__(self, resolve_address: AddressResolver, *, history: int = 512,
                 clock: Callable[[], float] = time.time, timeout: float = 5.0, monitor_url: str | None = None):
        self._monitor_url = monitor_url
        self._resolve = resolve_address
        self._history: dict[tuple[str, str, str], collections.deque[Snapshot]] = {}
        self._history_len = history
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._restarted: dict[tuple[str, str, str], float] = {}

    async def fetch(self, url: str) -> str:
        """The text at `url` (one HTTP session for the provider's life; `close()` ends it)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.get(url) as resp:
            if resp.status != 200:
                raise RuntimeError(f"GET {url} answered {resp.status}")
            return await resp.text()

    async def scrape(self, url: str) -> str:
        return await self.fetch(url.rstrip("/") + "/metrics")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def snapshot(self, namespace: str, deployment: str, predictor: str, now: float) -> Snapshot:
        """The predictor's cumulative counts now, from the splitter in front of the SeldonDeployment."""
        address = await self._resolve(namespace, deployment)
        if not address:
            raise LookupError(f"SeldonDeployment {namespace}/{deployment} has no status.address.url yet")
        return parse_snapshot(await self.scrape(address), namespace, deployment, predictor, now)

    async def arm_metrics(self, namespace: str, deployment: str, predictor: str, since: float | None) -> ArmMetrics:
        now = self._clock()
        current = await self.snapshot(namespace, deployment, predictor, now)
        key = (namespace, deployment, predictor)
        history = self._history.setdefault(key, collections.deque(maxlen=self._history_len))
        if history and current.went_down_from(history[-1]):
            # The source restarted: older snapshots belong to another life, and the new counters began
            # after our last look (the executor's exposition has no `_created` stamp to say so itself).
            self._restarted[key] = history[-1].time
            history.clear()
        if current.created is None and key in self._restarted:
            current.created = self._restarted[key]
        base = self._baseline(history, current, since)
        history.append(current)
        delta = current.minus(base)
        p95 = quantile_from_buckets(0.95, delta.buckets) if delta.buckets and math.inf in delta.buckets else None
        return arm_metrics_from_counts(delta.requests, delta.errors, p95,
                                       delta.mirrored if current.has_shadow else None)

    async def recorded(self, namespace: str, deployment: str, predictor: str) -> tuple[int, int] | None:
        if not self._monitor_url:
            return None
        return parse_recorded(await self.scrape(self._monitor_url), namespace, deployment, predictor)

    @staticmethod
    def _baseline(history: collections.deque[Snapshot], current: Snapshot, since: float | None) -> Snapshot | None:
        if since is None:
            return None
        before = [s for s in history if s.time <= since]
        if before:
            return before[-1]
        if current.created is not None and current.created >= since:
            return None  # the series began after `since`: everything counts
        # First look after `since` at an older series: count from the earliest snapshot we have.
        return history[0] if history else current


def static_addresses(addresses: Mapping[tuple[str, str], str]) -> AddressResolver:
    """A resolver from a fixed {(namespace, name): url} map (tests, scripts)."""

    async def resolve(namespace: str, name: str) -> str | None:
        return addresses.get((namespace, name))

    return resolve


def kubernetes_address_resolver(api_url: str, timeout: float = 5.0) -> AddressResolver:
    """A resolver reading `status.address.url` of a SeldonDeployment from a plain http API server."""
    async def resolve(namespace: str, name: str) -> str | None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(api_url.rstrip("/") + object_path(namespace, name)) as resp:
                if resp.status == 404:
                    return None
                resp.raise_for_status()
                body = await resp.json()
        return ((body.get("status") or {}).get("address") or {}).get("url")

    return resolve
