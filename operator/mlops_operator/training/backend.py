"""The one narrow interface between the operator's TrainingRun handler and where pipelines run.

Both calls are async and never block the event loop (blocking work goes to a thread or another
process) and never raise for infrastructure trouble: they answer with an outcome whose `state`
says what is known. `submit` is idempotent per run name; calling it again returns the run's
current outcome instead of starting a second run.

States: Pending / Running (poll again later), Succeeded (status holds the result: check
status["comparison"]["decision"] for Blessed/Rejected), Failed (message says why, naming the
step and, for validation, the columns), Lost (the backend cannot reach or find the run; the handler
may retry later: submit again is safe).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mlops_operator.api.mlproject import MLProjectSpec
from mlops_operator.settings import Settings

OutcomeState = Literal["Pending", "Running", "Succeeded", "Failed", "Lost"]
FINAL_STATES: frozenset[str] = frozenset({"Succeeded", "Failed"})
#: camelCase TrainingRunStatus fields an outcome's status may carry.
STATUS_KEYS = ("pipeline", "model", "metric", "candidates", "comparison", "lineage")


@dataclass(frozen=True)
class TrainingRequest:
    namespace: str
    run_name: str
    project: MLProjectSpec
    dataset_version: str | None = None
    champion_run: str | None = None
    champion_model_uri: str | None = None

    def version(self) -> str:
        return self.dataset_version or self.project.dataset.version


@dataclass(frozen=True)
class TrainingOutcome:
    state: OutcomeState
    message: str
    run_id: str | None = None
    url: str | None = None
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


class TrainingBackend(Protocol):
    async def submit(self, request: TrainingRequest) -> TrainingOutcome: ...

    async def poll(self, request: TrainingRequest, run_id: str) -> TrainingOutcome: ...


def compose_status(pipeline: dict[str, Any], result: dict[str, Any] | None) -> dict[str, Any]:
    """Status fields of an outcome: the pipeline block plus what the register step reported."""
    status: dict[str, Any] = {"pipeline": {k: v for k, v in pipeline.items() if v is not None}}
    for key in STATUS_KEYS[1:]:
        if result and result.get(key) is not None:
            status[key] = result[key]
    return status


_backends: dict[tuple, TrainingBackend] = {}


def make_backend(settings: Settings, project: MLProjectSpec, artifact_root: str | None = None) -> TrainingBackend:
    """The backend the project asks for (training.backend), else the operator's default.

    Backends are shared per configuration, so the local backend keeps track of the runner
    processes it started across reconciliations, and the KFP backend reuses its client.
    """
    kind = project.training.backend or settings.training_backend
    if kind == "local":
        from .local_backend import LocalBackend

        key: tuple = ("local", str(settings.data_dir), settings.components_image)
        if key not in _backends:
            _backends[key] = LocalBackend(data_dir=settings.data_dir, image=settings.components_image)
        return _backends[key]
    if kind == "kfp":
        from .kfp_backend import KfpBackend

        backend = KfpBackend.from_settings(settings, project, artifact_root=artifact_root)
        key = ("kfp", backend.endpoint, backend.experiment, backend.namespace, backend.image,
               backend.artifact_root, str(backend.package_dir))
        return _backends.setdefault(key, backend)
    raise ValueError(f"training.backend: unknown backend {kind!r}; use local or kfp")


def shutdown_backends() -> None:
    """Stop local runner processes started by this operator process (for a clean exit and tests)."""
    for backend in list(_backends.values()):
        terminate = getattr(backend, "terminate", None)
        if terminate is not None:
            terminate()
    _backends.clear()
