"""Run a BatchPrediction's pipeline on the training backends (`local`: kfp.local in a child process; `kfp`).

A run is a PipelineJob: the backends compile, submit, find again after a restart, and poll it exactly
as they do a TrainingRun's training. What the pipeline reports (result.json from the summarize step,
error.json from a failing step) is read here from the run's output location.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_components import locations
from mlops_components.failures import ERROR_FILE

from mlops_operator.settings import Settings
from mlops_operator.training.backend import TrainingOutcome, shared_backend
from mlops_operator.training.pipeline import CompiledPipeline

from .pipeline import BatchPipelineInputs, compile_batch_pipeline

RESULT_FILE = "result.json"


@dataclass(frozen=True)
class BatchJob:
    """One run of a BatchPrediction, as a PipelineJob."""

    namespace: str
    prediction: str  # the BatchPrediction's name
    run: str  # the run's name (the BatchPrediction's for a one-off, with the schedule time for a scheduled one)
    model_uri: str
    training_run: str | None
    input_uri: str
    input_format: str
    input_version: str | None
    schema_columns: tuple[dict[str, Any], ...] | None
    keep_columns: tuple[str, ...] = ()
    chunk_size: int = 100_000
    parallelism: int = 1
    output_root: str | None = None  # spec.output.uri: the run writes under <output_root>/<run>
    drift_statistic: str = "psi"
    drift_threshold: float = 0.2

    @property
    def run_name(self) -> str:
        return f"batch-{self.run}"  # never the name of a TrainingRun's KFP run

    def local_directory(self, data_dir: Path) -> Path:
        return Path(data_dir).resolve() / "batch" / self.namespace / self.prediction / self.run

    def remote_output(self, artifact_root: str) -> str:
        return f"{artifact_root}/{self.namespace}/batch/{self.prediction}/{self.run}"

    def predictions_uri(self, output_uri: str) -> str:
        if self.output_root:
            return locations.join(self.output_root, self.run)
        return locations.join(output_uri, "output")

    def inputs(self, output_uri: str, image: str | None) -> BatchPipelineInputs:
        extra = {"image": image} if image else {}
        return BatchPipelineInputs(
            run_name=self.run, model_uri=self.model_uri, training_run=self.training_run, input_uri=self.input_uri,
            input_format=self.input_format, input_version=self.input_version, schema_columns=self.schema_columns,
            keep_columns=self.keep_columns, chunk_size=self.chunk_size, parallelism=self.parallelism,
            predictions_uri=self.predictions_uri(output_uri), output_uri=output_uri,
            drift_statistic=self.drift_statistic, drift_threshold=self.drift_threshold, **extra)

    def compile(self, output_uri: str, image: str | None) -> CompiledPipeline:
        return compile_batch_pipeline(self.inputs(output_uri, image))


@dataclass(frozen=True)
class BatchOutcome:
    state: str  # Pending | Running | Succeeded | Failed | Lost (as TrainingOutcome)
    message: str
    run_id: str | None = None
    url: str | None = None
    digest: str | None = None
    result: dict[str, Any] | None = None  # the summarize step's status fields
    error: dict[str, Any] | None = None  # the failing step's {step, message, error}
    backend: str = "local"

    @property
    def finished(self) -> bool:
        return self.state in ("Succeeded", "Failed")


class BatchBackend:
    """A training backend (shared with TrainingRuns) driving batch jobs."""

    def __init__(self, backend: Any, kind: str) -> None:
        self.backend = backend
        self.kind = kind

    def output_uri(self, job: BatchJob) -> str:
        if self.kind == "local":
            return self.backend.job_directory(job).as_uri()
        return self.backend.output_uri(job)

    async def submit(self, job: BatchJob) -> BatchOutcome:
        return await self._complete(job, await self.backend.submit_job(job))

    async def poll(self, job: BatchJob, run_id: str) -> BatchOutcome:
        if self.kind == "local":
            outcome = await self.backend.poll_job(job)
        else:
            outcome = await self.backend.poll_job(job, run_id)
        return await self._complete(job, outcome)

    async def _complete(self, job: BatchJob, outcome: TrainingOutcome) -> BatchOutcome:
        result = error = None
        state, message = outcome.state, outcome.message
        if state == "Succeeded":
            result = await asyncio.to_thread(_read, locations.join(self.output_uri(job), RESULT_FILE))
            if result is None:
                state, message = "Failed", f"pipeline succeeded but wrote no result at {self.output_uri(job)}"
        elif state == "Failed":
            error = await asyncio.to_thread(_read, locations.join(self.output_uri(job), ERROR_FILE))
        pipeline = (outcome.status or {}).get("pipeline") or {}
        return BatchOutcome(state=state, message=message, run_id=outcome.run_id, url=outcome.url,
                            digest=pipeline.get("digest"), result=result, error=error, backend=self.kind)


def _read(uri: str) -> dict[str, Any] | None:
    try:
        return json.loads(locations.read_bytes(uri))
    except Exception:  # missing or unreadable: the caller words the consequence
        return None


def make_batch_backend(settings: Settings, kind: str | None, kfp: Any = None) -> BatchBackend:
    """The backend `kind` (else the operator's default), the same instance TrainingRuns of that configuration use."""
    kind = kind or settings.training_backend
    if kind == "local":
        from mlops_operator.training.local_backend import LocalBackend

        key: tuple = ("local", str(settings.data_dir), settings.components_image)
        return BatchBackend(shared_backend(key, lambda: LocalBackend(data_dir=settings.data_dir,
                                                                     image=settings.components_image)), "local")
    if kind == "kfp":
        from mlops_operator.training.kfp_backend import KfpBackend

        endpoint = (kfp.endpoint if kfp else None) or settings.kfp_endpoint
        if not endpoint:
            raise ValueError("backend kfp needs an endpoint (the project's training.kfp.endpoint or MLOPS_KFP_ENDPOINT)")
        backend = KfpBackend(endpoint=endpoint, experiment=(kfp.experiment if kfp else None) or settings.kfp_experiment,
                             namespace=kfp.namespace if kfp else None, image=settings.components_image,
                             artifact_root=settings.artifact_root, package_dir=settings.data_dir / "packages")
        key = ("kfp", backend.endpoint, backend.experiment, backend.namespace, backend.image,
               backend.artifact_root, str(backend.package_dir))
        return BatchBackend(shared_backend(key, lambda: backend), "kfp")
    raise ValueError(f"backend: unknown backend {kind!r}; use local or kfp")
