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
from mlops_components.locations import S3Config
from mlops_components.failures import ERROR_FILE

from mlops_operator.settings import Settings
from mlops_operator.training.backend import TrainingOutcome
from mlops_operator.training.backends import Backends
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

    def inputs(self, output_uri: str, image: str | None, storage: Any = None) -> BatchPipelineInputs:
        extra: dict[str, Any] = {"image": image} if image else {}
        if storage is not None:
            extra["storage"] = storage
        return BatchPipelineInputs(
            run_name=self.run, model_uri=self.model_uri, training_run=self.training_run, input_uri=self.input_uri,
            input_format=self.input_format, input_version=self.input_version, schema_columns=self.schema_columns,
            keep_columns=self.keep_columns, chunk_size=self.chunk_size, parallelism=self.parallelism,
            predictions_uri=self.predictions_uri(output_uri), output_uri=output_uri,
            drift_statistic=self.drift_statistic, drift_threshold=self.drift_threshold, **extra)

    def compile(self, output_uri: str, image: str | None, storage: Any = None) -> CompiledPipeline:
        return compile_batch_pipeline(self.inputs(output_uri, image, storage))


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

    @classmethod
    def of(cls, backends: Backends, settings: Settings, kind: str | None, project: Any = None) -> "BatchBackend":
        """The backend `kind` (else the operator's default): the instance TrainingRuns of that configuration use."""
        training = project.training if project is not None else None
        backend = backends.get(settings, kind, training.kfp if training else None,
                               project.storage if project is not None else None)
        return cls(backend, kind or settings.training_backend)

    def output_uri(self, job: BatchJob) -> str:
        return self.backend.output_uri(job)

    async def submit(self, job: BatchJob) -> BatchOutcome:
        return await self._complete(job, await self.backend.submit_job(job))

    async def poll(self, job: BatchJob, run_id: str) -> BatchOutcome:
        if self.kind == "local":
            outcome = await self.backend.poll_job(job)
        else:
            outcome = await self.backend.poll_job(job, run_id)
        return await self._complete(job, outcome)

    async def _credentials(self, job: BatchJob) -> S3Config | None:
        """The operator's keys for the run's output location (the storage Secret), or None to use the environment's."""
        storage = getattr(self.backend, "storage", None)
        try:
            return await storage.load(job.namespace) if storage is not None else None
        except Exception:  # the read below then fails and says so
            return None

    async def _complete(self, job: BatchJob, outcome: TrainingOutcome) -> BatchOutcome:
        result = error = None
        state, message = outcome.state, outcome.message
        s3 = await self._credentials(job) if state in ("Succeeded", "Failed") else None
        if state == "Succeeded":
            result = await asyncio.to_thread(_read, locations.join(self.output_uri(job), RESULT_FILE), s3)
            if result is None:
                state, message = "Failed", f"pipeline succeeded but wrote no result at {self.output_uri(job)}"
        elif state == "Failed":
            error = await asyncio.to_thread(_read, locations.join(self.output_uri(job), ERROR_FILE), s3)
        pipeline = (outcome.status or {}).get("pipeline") or {}
        return BatchOutcome(state=state, message=message, run_id=outcome.run_id, url=outcome.url,
                            digest=pipeline.get("digest"), result=result, error=error, backend=self.kind)


def _read(uri: str, s3: S3Config | None = None) -> dict[str, Any] | None:
    try:
        return json.loads(locations.read_bytes(uri, s3))
    except Exception:  # missing or unreadable: the caller words the consequence
        return None
