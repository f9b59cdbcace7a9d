"""ModelDeployment: serve a model version through Seldon Core with a release strategy."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .common import ApiModel, Duration, LocalObjectReference, ObjectStatus, StatusModel, parse_duration

StrategyType = Literal["direct", "canary", "abtest", "shadow"]
DeploymentPhase = Literal["Pending", "Progressing", "Paused", "Serving", "RolledBack", "Failed"]

#: Annotations a user sets to steer a rollout by hand; the value is any token (e.g. a timestamp),
#: and each new value acts once, so the operator never has to delete what a user wrote.
PROMOTE_ANNOTATION = "mlops.dev/promote"
ABORT_ANNOTATION = "mlops.dev/abort"


class ModelSource(ApiModel):
    """The model version to serve: a TrainingRun, the project's champion, or a bare artifact URI."""

    training_run: str | None = Field(default=None, description="Name of a Blessed TrainingRun.")
    champion: bool | None = Field(
        default=None,
        description="Follow the champion of spec.projectRef: every new champion is released with the strategy.",
    )
    uri: str | None = Field(default=None, description="Model artifact URI, for models trained elsewhere.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "(has(self.trainingRun) ? 1 : 0) + (has(self.uri) ? 1 : 0)"
                         " + (has(self.champion) && self.champion ? 1 : 0) == 1",
                 "message": "set exactly one of trainingRun, champion and uri"},
            ]
        }
    }

    @model_validator(mode="after")
    def _exactly_one(self) -> "ModelSource":
        if sum((self.training_run is not None, self.uri is not None, bool(self.champion))) != 1:
            raise ValueError("set exactly one of trainingRun, champion and uri")
        return self

    def key(self, champion_run: str | None = None) -> str:
        """Identity of the version served; following the champion resolves to its TrainingRun."""
        if self.uri:
            return f"uri:{self.uri}"
        return f"tr:{self.training_run or champion_run}"


class AnalysisLimits(ApiModel):
    """What a candidate must satisfy at every check (Flagger-style thresholds)."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="Largest share of failed requests.")
    max_latency_ms: float = Field(default=500, gt=0, description="Largest p95 latency in milliseconds.")
    min_requests: int = Field(default=20, ge=0, description="Requests needed before a check counts.")
    failure_limit: int = Field(default=2, ge=1, description="Failed checks in a row that roll back.")


class CanaryStrategy(ApiModel):
    steps: list[int] = Field(default_factory=lambda: [10, 25, 50, 100], min_length=1, max_length=20,
                             description="Candidate traffic percentages, increasing, each 1..100.")
    interval: Duration = Field(default="1m", description="Time at each step before it is analysed.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "self.steps.all(s, s >= 1 && s <= 100)",
                 "message": "canary steps must be between 1 and 100", "fieldPath": ".steps"},
                {"rule": "self.steps.all(s, self.steps.exists_one(t, t == s)) && self.steps.isSorted()",
                 "message": "canary steps must increase", "fieldPath": ".steps"},
            ]
        }
    }

    @model_validator(mode="after")
    def _increasing(self) -> "CanaryStrategy":
        for s in self.steps:
            if not 1 <= s <= 100:
                raise ValueError(f"steps: {s} is outside 1..100")
        if any(b <= a for a, b in zip(self.steps, self.steps[1:])):
            raise ValueError(f"steps: must increase, got {self.steps}")
        return self

    def interval_seconds(self) -> float:
        return parse_duration(self.interval)


class AbTestStrategy(ApiModel):
    stable_weight: int = Field(default=50, ge=0, le=100, description="Traffic percentage of the stable version.")
    candidate_weight: int = Field(default=50, ge=0, le=100, description="Traffic percentage of the candidate.")
    duration: Duration = Field(default="10m", description="How long both arms serve before deciding.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "self.stableWeight + self.candidateWeight == 100",
                 "message": "A/B weights must sum to 100", "fieldPath": ".candidateWeight"},
            ]
        }
    }

    @model_validator(mode="after")
    def _sum(self) -> "AbTestStrategy":
        if self.stable_weight + self.candidate_weight != 100:
            raise ValueError("candidateWeight: stableWeight + candidateWeight must be 100")
        return self

    def duration_seconds(self) -> float:
        return parse_duration(self.duration)


class ShadowStrategy(ApiModel):
    percent: int = Field(default=100, ge=1, le=100, description="Share of live requests mirrored.")
    duration: Duration = Field(default="10m", description="How long to mirror before deciding.")

    def duration_seconds(self) -> float:
        return parse_duration(self.duration)


class Strategy(ApiModel):
    type: StrategyType = Field(default="direct", description="How a new version replaces the stable one.")
    canary: CanaryStrategy = Field(default_factory=CanaryStrategy, description="Stepped traffic shift.")
    abtest: AbTestStrategy = Field(default_factory=AbTestStrategy, description="Fixed split, then a winner.")
    shadow: ShadowStrategy = Field(default_factory=ShadowStrategy, description="Mirrored traffic, answers unseen.")
    analysis: AnalysisLimits = Field(default_factory=AnalysisLimits, description="Limits checked at every step.")
    progress_deadline: Duration = Field(
        default="10m", description="A candidate not ready within this is rolled back."
    )
    auto_promote: bool = Field(
        default=True, description="Promote at the end without a manual promote annotation."
    )

    def progress_deadline_seconds(self) -> float:
        return parse_duration(self.progress_deadline)


class ServerSpec(ApiModel):
    implementation: Literal["SKLEARN_SERVER", "MLSERVER"] = Field(
        default="SKLEARN_SERVER", description="Seldon prepackaged server (protocol v2 via MLServer)."
    )
    image: str | None = Field(default=None, description="Custom serving image (from components/).")


class Resources(ApiModel):
    requests: dict[str, str] = Field(default_factory=dict, description="e.g. {cpu: 500m, memory: 1Gi}")
    limits: dict[str, str] = Field(default_factory=dict, description="e.g. {memory: 2Gi}")


class ModelDeploymentSpec(ApiModel):
    project_ref: LocalObjectReference | None = Field(
        default=None, description="Project whose serving champion this deployment updates."
    )
    model: ModelSource = Field(description="The model version to serve.")
    strategy: Strategy = Field(default_factory=Strategy, description="Release strategy for new versions.")
    replicas: int = Field(default=1, ge=0, le=100, description="Replicas per predictor.")
    resources: Resources | None = Field(default=None, description="Container resources per replica.")
    server: ServerSpec = Field(default_factory=ServerSpec, description="Which Seldon server runs the model.")
    paused: bool = Field(default=False, description="Hold the rollout at its current step.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "!has(self.model.champion) || !self.model.champion || has(self.projectRef)",
                 "message": "model.champion needs spec.projectRef", "fieldPath": ".projectRef"},
            ]
        }
    }

    @model_validator(mode="after")
    def _champion_needs_project(self) -> "ModelDeploymentSpec":
        if self.model.champion and self.project_ref is None:
            raise ValueError("projectRef: required when model.champion is true")
        return self


class ServedModel(StatusModel):
    key: str
    training_run: str | None = None
    uri: str
    predictor: str


class Decision(StatusModel):
    action: str
    reason: str
    time: str


class ArmMetrics(StatusModel):
    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    latency_p95_ms: float | None = None
    mirrored: int | None = None


class SeldonStatus(StatusModel):
    name: str | None = None
    state: str | None = None
    address: str | None = None
    description: str | None = None
    replicas: dict[str, int] = Field(default_factory=dict)


class ModelDeploymentStatus(ObjectStatus):
    stable: ServedModel | None = None
    candidate: ServedModel | None = None
    rolled_back: ServedModel | None = Field(
        default=None, description="Last candidate rolled back; not retried until spec.model changes."
    )
    strategy: StrategyType | None = None
    weights: dict[str, int] = Field(default_factory=dict, description="Traffic share per predictor name.")
    traffic: str | None = Field(default=None, description="stable/candidate split, for kubectl get.")
    step: int | None = Field(default=None, description="Index of the current canary step.")
    step_started_at: str | None = None
    rollout_started_at: str | None = None
    failed_checks: int = 0
    last_decision: Decision | None = None
    arms: dict[str, ArmMetrics] = Field(default_factory=dict)
    seldon: SeldonStatus | None = None
    handled_annotations: dict[str, str] = Field(
        default_factory=dict, description="Last promote/abort annotation values acted upon."
    )


class ModelDeployment(ApiModel):
    """Serves a model version through Seldon Core with a direct, canary, A/B or shadow release."""

    api_version: Literal["mlops.dev/v1alpha1"] = "mlops.dev/v1alpha1"
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = None
