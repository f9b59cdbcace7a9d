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


class DatasetSnapshot(ApiModel):
    """Data to train on instead of the project's dataset: e.g. the monitor's export of live rows and labels."""

    uri: str = Field(min_length=1, description="Where the snapshot is (file path or URI, as a project dataset).")
    format: Literal["csv", "parquet"] = Field(default="csv", description="File format.")
    digest: str | None = Field(default=None, description="sha256 of the snapshot, as the monitor's export gave it.")
    rows: int | None = Field(default=None, ge=0, description="Rows in the snapshot.")


class TrainingRunSpec(ApiModel):
    project_ref: LocalObjectReference = Field(description="The MLProject this run trains.")
    dataset: DatasetSnapshot | None = Field(
        default=None, description="Train on this snapshot instead of the project's dataset URI (schema and target "
                                  "stay the project's).")
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
    display: str | None = Field(default=None, description="The value rounded for kubectl get (0.986).")


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


class ReportLink(StatusModel):
    """The run's HTML report (data profile, candidates, evaluation plots, champion comparison)."""

    uri: str = Field(description="Where the report is: beside the model at the run's output location.")


class ApprovalRecord(StatusModel):
    approved_by: str
    approved_at: str


class DriftEvidence(StatusModel):
    """Why a drift retrain started: the window and the drifting features with their statistics."""

    episode: str = Field(description="The drift episode (model version @ start time): one retrain per episode.")
    deployment: str | None = None
    predictor: str | None = None
    model_version: str | None = None
    since: str | None = Field(default=None, description="When the drift episode started.")
    reason: str | None = None
    window: dict[str, Any] = Field(default_factory=dict, description="The judged window: requests, closedAt.")
    features: list[dict[str, Any]] = Field(
        default_factory=list, description="Top features: feature, drifted, effect, psi, js, ks, wasserstein, p-values.")


class TrainingRunStatus(ObjectStatus):
    drift: DriftEvidence | None = Field(default=None, description="Drift evidence of a run with trigger drift.")
    pipeline: PipelineStatus | None = None
    model: ModelArtifact | None = None
    metric: MetricValue | None = None
    candidates: list[CandidateResult] = Field(default_factory=list)
    comparison: Comparison | None = None
    lineage: Lineage | None = None
    approval: ApprovalRecord | None = None
    report: ReportLink | None = Field(default=None, description="The run's HTML report; `kubectl mlops report tr NAME`.")
    start_time: str | None = None
    completion_time: str | None = None


class TrainingRun(ApiModel):
    """One training of an MLProject; when finished, a model version with metrics and lineage."""

    api_version: Literal["mlops.dev/v1alpha1"] = "mlops.dev/v1alpha1"
    kind: Literal["TrainingRun"] = "TrainingRun"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: TrainingRunSpec = Field(description="Which project to train, on which dataset version, and its approval.")
    status: TrainingRunStatus | None = None
