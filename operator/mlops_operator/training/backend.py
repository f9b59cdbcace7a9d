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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mlops_operator.api.mlproject import MLProjectSpec

if TYPE_CHECKING:
    from .pipeline import CompiledPipeline
    from .storage import StorageSettings

OutcomeState = Literal["Pending", "Running", "Succeeded", "Failed", "Lost"]
FINAL_STATES: frozenset[str] = frozenset({"Succeeded", "Failed"})
#: camelCase TrainingRunStatus fields an outcome's status may carry.
STATUS_KEYS = ("pipeline", "model", "metric", "candidates", "comparison", "lineage", "report")


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


class PipelineJob(Protocol):
    """Any compiled pipeline run by a backend: a TrainingRun's training, a BatchPrediction's scoring run.

    Its root parameter `output_uri` is where its last step writes result.json (or a failing step error.json).
    """

    namespace: str
    run_name: str  # the run's display name on KFP

    def local_directory(self, data_dir: Path) -> Path: ...  # the local backend's run directory

    def remote_output(self, artifact_root: str) -> str: ...  # output_uri on the kfp backend

    def compile(self, output_uri: str, image: str | None,
                storage: "StorageSettings | None" = None) -> "CompiledPipeline": ...  # ValueError: not buildable


@dataclass(frozen=True)
class TrainingJob:
    """The training pipeline of one TrainingRun, as a PipelineJob."""

    request: TrainingRequest

    @property
    def namespace(self) -> str:
        return self.request.namespace

    @property
    def run_name(self) -> str:
        return self.request.run_name

    def local_directory(self, data_dir: Path) -> Path:
        from . import runfiles

        return runfiles.run_dir(data_dir, self.request.namespace, self.request.run_name)

    def remote_output(self, artifact_root: str) -> str:
        return f"{artifact_root}/{self.request.namespace}/{self.request.run_name}"

    def inputs(self, output_uri: str, image: str | None, storage: "StorageSettings | None" = None):
        from .pipeline import PipelineInputs

        request = self.request
        extra: dict[str, Any] = {"image": image} if image else {}
        if storage is not None:
            extra["storage"] = storage
        return PipelineInputs(
            project=request.project, run_name=request.run_name, dataset_version=request.version(),
            champion_model_uri=request.champion_model_uri, champion_run=request.champion_run,
            output_uri=output_uri, **extra,
        )

    def compile(self, output_uri: str, image: str | None, storage: "StorageSettings | None" = None) -> "CompiledPipeline":
        from .pipeline import compile_pipeline

        return compile_pipeline(self.inputs(output_uri, image, storage))


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
