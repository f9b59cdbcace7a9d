"""TrainingRun: one training of a project; once finished, it is a model version."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .common import ApiModel, LocalObjectReference, ObjectStatus, StatusModel

TrainingPhase = Literal[
    "Pending", "Running", "AwaitingApproval", "Blessed", "Rejected", "Failed"
]
TERMINAL_PHASES: frozenset[str] = frozenset({"Blessed", "Rejected", "Failed"})


class Approval(ApiModel):
    """A person's approval of a blessed model; RBAC (or an admission policy) decides who may set it."""

    approved_by: str = Field(min_length=1, description="Who approves; must be one of the project's approvers.")
    comment: str | None = Field(default=None, description="Why, for the record.")


class TrainingRunSpec(ApiModel):
    project_ref: LocalObjectReference = Field(description="The MLProject this run trains.")
    dataset_version: str | None = Field(
        default=None, description="Dataset version to train on; defaults to the project's current one."
    )
    trigger: Literal["manual", "dataset-version", "schedule", "drift"] = Field(
        default="manual", description="What started the run (set by the operator for runs it creates).")
    approval: Approval | None = Field(default=None, description="Approval of a blessed model, when required.")


class MetricValue(StatusModel):
    name: str
    value: float
    lower: float | None = Field(default=None, description="Bootstrap 95% interval, lower end.")
    upper: float | None = Field(default=None, description="Bootstrap 95% interval, upper end.")


class CandidateResult(StatusModel):
    candidate: str
    estimator: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    value: float


class Comparison(StatusModel):
    """The gate's verdict: challenger vs minimum and champion, on the same held-out rows."""

    decision: Literal["Blessed", "Rejected"]
    reason: str
    metric: str
    candidate_value: float
    minimum: float | None = None
    champion: str | None = None
    champion_value: float | None = None
    difference_lower: float | None = None
    difference_upper: float | None = None


class PipelineStatus(StatusModel):
    backend: str | None = None
    digest: str | None = Field(default=None, description="Digest of the compiled pipeline and its inputs.")
    run_id: str | None = None
    url: str | None = None
    state: str | None = None
    attempts: int = 0


class ModelArtifact(StatusModel):
    uri: str
    digest: str | None = None
    candidate: str | None = None
    estimator: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)


class Lineage(StatusModel):
    dataset_uri: str | None = None
    dataset_version: str | None = None
    dataset_digest: str | None = None
    pipeline_digest: str | None = None
    code_version: str | None = None
    seed: int | None = None
    parent_champion: str | None = None
    parent_champion_uri: str | None = None


class ApprovalRecord(StatusModel):
    approved_by: str
    approved_at: str


class TrainingRunStatus(ObjectStatus):
    pipeline: PipelineStatus | None = None
    model: ModelArtifact | None = None
    metric: MetricValue | None = None
    candidates: list[CandidateResult] = Field(default_factory=list)
    comparison: Comparison | None = None
    lineage: Lineage | None = None
    approval: ApprovalRecord | None = None
    start_time: str | None = None
    completion_time: str | None = None


class TrainingRun(ApiModel):
    """One training of an MLProject; when finished, a model version with metrics and lineage."""

    api_version: Literal["mlops.dev/v1alpha1"] = "mlops.dev/v1alpha1"
    kind: Literal["TrainingRun"] = "TrainingRun"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: TrainingRunSpec
    status: TrainingRunStatus | None = None
