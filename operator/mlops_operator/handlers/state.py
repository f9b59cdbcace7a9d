"""What the handlers keep while the operator runs: made at kopf startup, kept in kopf's memo, closed at cleanup.

Nothing of it lives in a module: an operator started again in the same process (tests, `mlops-operator
dev`) starts from its own environment and forgets every address and metrics baseline of the run before.
kopf gives each object a shallow copy of the operator's memo, so every handler and reconcile loop
reaches the same `OperatorState` as `state(memo)`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..metrics.base import MetricsProvider
from ..metrics.select import make_metrics_provider
from ..monitor.client import MonitorConfig
from ..settings import Settings
from ..training.backends import Backends

MEMO_KEY = "mlops"


@dataclass
class OperatorState:
    settings: Settings
    monitor: MonitorConfig | None  # None when no monitor is configured (MLOPS_MONITOR_URL)
    #: One provider for the operator's life: the scrape provider keeps the baselines of each rollout step.
    metrics: MetricsProvider
    #: Serving address of each SeldonDeployment as last read by its reconcile (the local splitter's lookup).
    addresses: dict[tuple[str, str], str | None] = field(default_factory=dict)
    #: Replicas per predictor of each ModelDeployment as last reconciled (the executor scrape refuses > 1).
    replicas: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Predictors of each ModelDeployment with an availability series (mlops_modeldeployment_predictor_available).
    predictors: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    #: Training and batch-scoring backends, one per configuration.
    backends: Backends = field(default_factory=Backends)
    #: The watch signals of every running reconcile loop, by (plural, namespace, name): another object's
    #: change can wake it (a SeldonDeployment's status wakes its ModelDeployment).
    loops: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    #: Set by close(): a reconcile still finishing during shutdown must not put anything back.
    closed: bool = False

    @classmethod
    def from_env(cls) -> "OperatorState":
        settings = Settings.from_env()
        monitor = MonitorConfig.from_env()
        addresses: dict[tuple[str, str], str | None] = {}
        replicas: dict[tuple[str, str], int] = {}

        async def splitter_address(namespace: str, name: str) -> str | None:
            return addresses.get((namespace, name))

        metrics = make_metrics_provider(
            settings.metrics_provider, prometheus_url=settings.prometheus_url, address_resolver=splitter_address,
            seldon_metrics_url=settings.seldon_metrics_url, replicas=replicas,
            monitor_url=monitor.url if monitor else None)
        return cls(settings, monitor, metrics, addresses, replicas)

    async def close(self) -> None:
        self.closed = True
        await self.metrics.close()
        self.backends.close()
        self.addresses.clear()
        self.loops.clear()
        self.replicas.clear()
        self.predictors.clear()


def state(memo: Any) -> OperatorState:
    """The operator's state from a handler's `memo` (an object's memo is a copy of the operator's)."""
    try:
        return memo[MEMO_KEY]
    except KeyError:
        raise RuntimeError("the operator state is missing from kopf's memo: did the startup handler run?") from None
