"""BatchPrediction: score a file (or a directory of files) of new rows with a model version, once or on a schedule."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .cron import parse_cron
from .common import ApiModel, LocalObjectReference, ObjectStatus, StatusModel
from .modeldeployment import ModelSource

BatchPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Scheduled"]
#: Phases of a one-off BatchPrediction after which nothing more happens.
TERMINAL_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed"})
#: The placeholder in input.uri replaced by input.version.
VERSION_PLACEHOLDER = "{version}"


class BatchModelSource(ModelSource):
    """The model version to score with: a TrainingRun, the project's champion, or a bare artifact URI."""

    champion: bool | None = Field(
        default=None,
        description="The champion of spec.projectRef at the time each run starts (a new champion is used by the next run).",
    )
    uri: str | None = Field(default=None, description="Model directory URI, for models trained elsewhere.")


class BatchInput(ApiModel):
    """The rows to score."""

    uri: str = Field(
        min_length=1,
        description=(
            "A file or a directory of files (path, file://, http(s)://, s3://), or 'sklearn:<name>' demo data; "
            "'{version}' in it is replaced by input.version."
        ),
    )
    format: Literal["csv", "parquet"] = Field(default="csv", description="File format of the input.")
    version: str | None = Field(default=None, description="Version label of the input, recorded in lineage.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "!self.uri.contains('{version}') || has(self.version)",
                 "message": "input.uri has a {version} placeholder but input.version is not set", "fieldPath": ".version"},
            ]
        }
    }

    @model_validator(mode="after")
    def _placeholder(self) -> "BatchInput":
        if VERSION_PLACEHOLDER in self.uri and not self.version:
            raise ValueError("version: required when uri contains {version}")
        return self

    def resolved_uri(self) -> str:
        return self.uri.replace(VERSION_PLACEHOLDER, self.version) if self.version else self.uri


class BatchOutput(ApiModel):
    """Where predictions go."""

    uri: str | None = Field(
        default=None,
        description=(
            "Directory (path, file://, s3://) under which each run writes <run>/predictions, <run>/rejected "
            "and <run>/summary.json; defaults to the operator's data directory (local) or artifact root (kfp)."
        ),
    )
    keep_columns: list[str] = Field(
        default_factory=list, description="Input columns copied next to each prediction (besides the row id)."
    )


class BatchPredictionSpec(ApiModel):
    project_ref: LocalObjectReference | None = Field(
        default=None, description="Project whose champion, schema and backend settings apply.")
    model: BatchModelSource = Field(description="The model version to score with.")
    input: BatchInput = Field(description="The rows to score.")
    output: BatchOutput = Field(default_factory=BatchOutput, description="Where predictions go.")
    schedule: str | None = Field(default=None, description="Cron schedule (5 fields, UTC); unset: run once.")
    chunk_size: int = Field(default=100_000, ge=100, le=10_000_000,
                            description="Rows read and scored at a time; memory grows with it, not with the input.")
    parallelism: int = Field(default=1, ge=1, le=32, description="Parallel scoring tasks the input is split over.")
    backend: Literal["local", "kfp"] | None = Field(
        default=None, description="Where the pipeline runs; defaults to the project's, then the operator's setting.")
    history_limit: int = Field(default=10, ge=1, le=100, description="Runs kept in status.lastRuns.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "!has(self.model.champion) || !self.model.champion || has(self.projectRef)",
                 "message": "model.champion needs spec.projectRef", "fieldPath": ".projectRef"},
            ]
        }
    }

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            parse_cron(value)  # the CRD schema cannot check cron syntax
        return value

    @model_validator(mode="after")
    def _champion_needs_project(self) -> "BatchPredictionSpec":
        if self.model.champion and self.project_ref is None:
            raise ValueError("projectRef: required when model.champion is true")
        return self


class OutputRecord(StatusModel):
    uri: str
    digest: str | None = Field(default=None, description="Digest of the predictions files.")
    rejected_uri: str | None = None
    summary_uri: str | None = None


class BatchLineage(StatusModel):
    training_run: str | None = Field(default=None, description="The TrainingRun that produced the model version.")
    model_uri: str | None = None
    model_digest: str | None = None
    input_uri: str | None = None
    input_version: str | None = None
    input_digest: str | None = None
    pipeline_digest: str | None = None


class BatchRunRecord(StatusModel):
    """One run of a BatchPrediction (the current one, or one in the history)."""

    name: str
    phase: str
    reason: str | None = None
    message: str | None = None
    scheduled_time: str | None = None
    start_time: str | None = None
    completion_time: str | None = None
    rows_scored: int | None = None
    rows_rejected: int | None = None
    output: OutputRecord | None = None
    lineage: BatchLineage | None = None
    run_id: str | None = None
    backend: str | None = None


class BatchPredictionStatus(ObjectStatus):
    rows_scored: int | None = None
    rows_rejected: int | None = None
    output: OutputRecord | None = None
    lineage: BatchLineage | None = None
    summary: dict[str, Any] | None = Field(
        default=None, description="Prediction distribution and drift of the last successful run.")
    current: BatchRunRecord | None = Field(default=None, description="The run in progress.")
    last_runs: list[BatchRunRecord] = Field(default_factory=list, description="Finished runs, newest first.")
    last_scheduled_time: str | None = None
    start_time: str | None = None
    completion_time: str | None = None


class BatchPrediction(ApiModel):
    """Scores new rows with a model version, once or on a schedule, and writes predictions with their lineage."""

    api_version: Literal["mlops.dev/v1alpha1"] = "mlops.dev/v1alpha1"
    kind: Literal["BatchPrediction"] = "BatchPrediction"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: BatchPredictionSpec = Field(description="The model to score with, the input rows, the output location "
                                                  "and an optional schedule.")
    status: BatchPredictionStatus | None = None
