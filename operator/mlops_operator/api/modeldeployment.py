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


QualityMetric = Literal["accuracy", "errorRate", "logLoss", "mae", "rmse"]

#: spec name -> name in decisions.sequential.METRICS
QUALITY_METRICS = {"accuracy": "accuracy", "errorRate": "error_rate", "logLoss": "log_loss", "mae": "mae", "rmse": "rmse"}


class QualityAnalysis(ApiModel):
    """The primary quality metric, from labelled requests (the monitor's feedback), with an always-valid test."""

    metric: QualityMetric = Field(
        description="Per-request quality from labelled records: accuracy, errorRate, logLoss (classification); "
                    "mae, rmse (regression).")
    min_effect: float = Field(
        gt=0, description="Smallest difference that matters, in the metric's units (e.g. 0.05 = 5 points of accuracy): "
                          "a candidate at most this much worse is non-inferior.")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Error rate of the always-valid test (any number of looks).")
    power: float = Field(default=0.8, gt=0, lt=1, description="Chance to detect a loss of minEffect (tunes the test).")
    min_samples: int = Field(default=100, ge=2, description="Labelled requests needed per arm before any verdict.")
    max_duration: Duration = Field(
        default="1h", description="With no verdict by then (from the release start): canary and shadow roll back, "
                                  "A/B keeps stable.")

    def max_duration_seconds(self) -> float:
        return parse_duration(self.max_duration)


class AnalysisLimits(ApiModel):
    """Guardrails checked once per analysis interval (Flagger-style thresholds), and the quality test."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="Largest share of failed requests.")
    max_latency_ms: float = Field(default=500, gt=0, description="Largest p95 latency in milliseconds.")
    min_requests: int = Field(default=20, ge=0, description="Requests needed before a check counts.")
    failure_limit: int = Field(default=2, ge=1, description="Failed checks in a row that roll back.")
    interval: Duration | None = Field(
        default=None, description="How often the guardrails are checked; defaults to canary.interval for a canary, "
                                  "else 1m.")
    quality: QualityAnalysis | None = Field(
        default=None, description="Decide on prediction quality from labelled requests (canary: advance when "
                                  "non-inferior, roll back when worse; A/B: a winner or stable). Unset: guardrails only.")


class CanaryStrategy(ApiModel):
    steps: list[int] = Field(default_factory=lambda: [10, 25, 50, 100], min_length=1, max_length=20,
                             description="Candidate traffic percentages, increasing, each 1..100.")
    interval: Duration = Field(default="1m", description="Time at each step before it is analysed.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                # has(): an unset field takes the model's default, so the rule must not fail on it ("no such key")
                {"rule": "!has(self.steps) || self.steps.all(s, s >= 1 && s <= 100)",
                 "message": "canary steps must be between 1 and 100", "fieldPath": ".steps"},
                {"rule": "!has(self.steps) || (self.steps.all(s, self.steps.exists_one(t, t == s))"
                         " && self.steps.isSorted())",
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


AB_DEFAULT_WEIGHT = 50


class AbTestStrategy(ApiModel):
    stable_weight: int = Field(default=AB_DEFAULT_WEIGHT, ge=0, le=100, description="Traffic percentage of the stable version.")
    candidate_weight: int = Field(default=AB_DEFAULT_WEIGHT, ge=0, le=100, description="Traffic percentage of the candidate.")
    duration: Duration = Field(default="10m", description="How long both arms serve before deciding.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": f"(has(self.stableWeight) ? self.stableWeight : {AB_DEFAULT_WEIGHT})"  # unset: the default
                         f" + (has(self.candidateWeight) ? self.candidateWeight : {AB_DEFAULT_WEIGHT}) == 100",
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


class ShadowBoundsSpec(ApiModel):
    """How far the shadow's answers may stray from stable's on the same requests; unset bounds are not checked."""

    max_disagreement: float | None = Field(
        default=None, ge=0, le=1, description="Largest share of requests where the predicted classes differ, "
                                              "judged by its always-valid upper bound (classification).")
    max_ks: float | None = Field(default=None, ge=0, le=1, description="Largest Kolmogorov-Smirnov statistic of the answers.")
    max_js: float | None = Field(default=None, ge=0, le=1, description="Largest Jensen-Shannon distance of the answers.")
    max_mean_abs_diff: float | None = Field(
        default=None, ge=0, description="Largest mean absolute difference of the answers (regression).")
    min_pairs: int = Field(default=50, ge=1, description="Stable/shadow answer pairs needed before judging.")
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Error rate of the disagreement bound.")
    max_duration: Duration = Field(
        default="1h", description="Not within bounds by then (from the release start): not promoted.")

    def is_set(self) -> bool:
        return any(v is not None for v in (self.max_disagreement, self.max_ks, self.max_js, self.max_mean_abs_diff))

    def max_duration_seconds(self) -> float:
        return parse_duration(self.max_duration)


class ShadowStrategy(ApiModel):
    percent: int = Field(default=100, ge=1, le=100, description="Share of live requests mirrored.")
    duration: Duration = Field(default="10m", description="How long to mirror before deciding.")
    bounds: ShadowBoundsSpec | None = Field(
        default=None, description="Compare the shadow's answers with stable's by request id; beyond a bound it is "
                                  "not promoted.")

    def duration_seconds(self) -> float:
        return parse_duration(self.duration)


class Strategy(ApiModel):
    type: StrategyType = Field(default="direct", description="How a new version replaces the stable one.")
    canary: CanaryStrategy = Field(default_factory=CanaryStrategy, description="Stepped traffic shift.")
    abtest: AbTestStrategy = Field(default_factory=AbTestStrategy, description="Fixed split, then a winner.")
    shadow: ShadowStrategy = Field(default_factory=ShadowStrategy, description="Mirrored traffic, answers unseen.")
    analysis: AnalysisLimits = Field(default_factory=AnalysisLimits,
                                     description="Guardrails checked once per interval, and the quality test.")
    progress_deadline: Duration = Field(
        default="10m", description="A candidate not ready within this is rolled back."
    )
    auto_promote: bool = Field(
        default=True, description="Promote at the end without a manual promote annotation."
    )

    def progress_deadline_seconds(self) -> float:
        return parse_duration(self.progress_deadline)

    def check_interval_seconds(self) -> float:
        """Seconds between two guardrail checks."""
        if self.analysis.interval:
            return parse_duration(self.analysis.interval)
        return self.canary.interval_seconds() if self.type == "canary" else 60.0


class ServerSpec(ApiModel):
    implementation: Literal["SKLEARN_SERVER", "MLSERVER"] = Field(
        default="SKLEARN_SERVER", description="Seldon prepackaged server (protocol v2 via MLServer)."
    )
    image: str | None = Field(default=None, description="Custom serving image (from components/).")


class Resources(ApiModel):
    requests: dict[str, str] = Field(default_factory=dict, description="e.g. {cpu: 500m, memory: 1Gi}")
    limits: dict[str, str] = Field(default_factory=dict, description="e.g. {memory: 2Gi}")


MAX_LAST_BLESSED = 5


class FromProject(ApiModel):
    """Challengers taken from spec.projectRef's TrainingRuns rather than named one by one."""

    last_blessed: int = Field(
        ge=1, le=MAX_LAST_BLESSED,
        description="The project's last N Blessed model versions (newest first, not counting the one serving as "
                    "stable) each become a challenger, named <name>-1 (newest) to <name>-N.")


class ChallengerSpec(ApiModel):
    """One challenger of an A/B/n test (or, with fromProject, several): served beside stable at once, on its
    own share of traffic."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                      description="Name of the challenger (DNS label), used in status and events.")
    model: ModelSource | None = Field(default=None, description="The model version of the challenger.")
    from_project: FromProject | None = Field(
        default=None, description="Instead of model: the project's last N Blessed versions challenge its champion.")
    weight: int = Field(ge=1, le=99, description="Traffic percentage of the challenger (of each, with fromProject); "
                                                 "stable gets the rest.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "has(self.model) != has(self.fromProject)", "message": "set exactly one of model and fromProject"},
            ]
        }
    }

    @model_validator(mode="after")
    def _one_source(self) -> "ChallengerSpec":
        if (self.model is None) == (self.from_project is None):
            raise ValueError("set exactly one of model and fromProject")
        return self

    def arm_names(self) -> list[str]:
        """The names of the arms this entry can become (fromProject: at most N; fewer Blessed versions, fewer)."""
        if self.from_project is None:
            return [self.name]
        return [f"{self.name[:37]}-{i}" for i in range(1, self.from_project.last_blessed + 1)]


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
    challengers: list[ChallengerSpec] = Field(
        default_factory=list, max_length=5,
        description="A/B/n: challengers served at once beside spec.model (stable), decided on "
                    "strategy.analysis.quality with family-wise error control; losers are stopped early, the "
                    "winner is promoted.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "!has(self.model.champion) || !self.model.champion || has(self.projectRef)",
                 "message": "model.champion needs spec.projectRef", "fieldPath": ".projectRef"},
                {"rule": "!has(self.challengers) || size(self.challengers) == 0 || "
                         "(has(self.strategy) && has(self.strategy.analysis) && has(self.strategy.analysis.quality))",
                 "message": "challengers need strategy.analysis.quality", "fieldPath": ".challengers"},
                {"rule": "!has(self.challengers) || self.challengers.all(c, self.challengers.exists_one(d, d.name == c.name))",
                 "message": "challenger names must be unique", "fieldPath": ".challengers"},
                {"rule": "!has(self.challengers) || has(self.projectRef) || self.challengers.all(c, !has(c.fromProject))",
                 "message": "challengers fromProject need spec.projectRef", "fieldPath": ".projectRef"},
            ]
        }
    }

    @model_validator(mode="after")
    def _champion_needs_project(self) -> "ModelDeploymentSpec":
        if self.model.champion and self.project_ref is None:
            raise ValueError("projectRef: required when model.champion is true")
        if self.challengers:
            if self.strategy.analysis.quality is None:
                raise ValueError("challengers: need strategy.analysis.quality to decide")
            names = [name for c in self.challengers for name in c.arm_names()]
            if len(set(names)) != len(names):
                raise ValueError("challengers: names must be unique (fromProject adds -1 .. -N to its name)")
            if any(c.from_project for c in self.challengers) and self.project_ref is None:
                raise ValueError("projectRef: required when a challenger is fromProject")
            if sum(c.weight * len(c.arm_names()) for c in self.challengers) >= 100:
                raise ValueError("challengers: weights must leave stable a share (sum below 100, fromProject "
                                 "counting weight × lastBlessed)")
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
    records: int | None = Field(default=None, description="Inferences the monitor recorded for this arm.")
    labelled: int | None = Field(default=None, description="Recorded inferences joined with a ground-truth label.")
    samples: int | None = Field(default=None, description="Labelled requests (rows) in the quality test.")
    estimate: float | None = Field(default=None, description="The quality metric over them.")
    interval: list[float] | None = Field(
        default=None, description="Candidate: always-valid interval of candidate − stable on the quality metric.")
    bound: float | None = Field(default=None, description="Candidate: the bound used (minEffect).")


class QualityArm(StatusModel):
    samples: int = Field(default=0, description="Labelled requests (rows) of this arm in the test.")
    estimate: float | None = Field(default=None, description="The metric's mean over them.")


class QualityStatus(StatusModel):
    """The last quality verdict, with its numbers."""

    metric: str
    verdict: str = Field(description="better, non-inferior, worse, inconclusive or insufficient.")
    reason: str
    stable: QualityArm = Field(default_factory=QualityArm)
    candidate: QualityArm = Field(default_factory=QualityArm)
    difference: float | None = Field(default=None, description="candidate − stable.")
    interval: list[float] | None = Field(
        default=None, description="Always-valid (1 − alpha) interval of candidate − stable.")
    min_effect: float | None = Field(default=None, description="The bound used: minEffect.")
    alpha: float | None = None
    missing: int | None = Field(default=None, description="Labelled requests still needed before any verdict.")


class ShadowDeltaStatus(StatusModel):
    """How the shadow's answers differ from stable's on the same requests."""

    pairs: int = 0
    disagreement: float | None = None
    disagreement_upper: float | None = Field(default=None, description="Always-valid upper bound of disagreement.")
    ks: float | None = None
    js: float | None = None
    mean_abs_diff: float | None = None
    qq: list[list[float]] = Field(default_factory=list, description="Q-Q plot: [level, stable quantile, shadow quantile].")
    within_bounds: bool | None = None
    reason: str | None = None


class ChallengerStatus(StatusModel):
    name: str
    model: ServedModel
    weight: int = Field(default=0, description="Traffic share now (0 once stopped, or until ready).")
    stopped: bool = False
    failed_checks: int = Field(default=0, description="Guardrail checks failed in a row (failureLimit loses).")
    verdict: str | None = Field(default=None, description="Against stable: better, non-inferior, worse, ...")
    samples: int = 0
    estimate: float | None = None
    interval: list[float] | None = Field(default=None, description="Always-valid interval of challenger − stable.")
    reason: str | None = None


class TournamentStatus(StatusModel):
    """The A/B/n test of spec.challengers against stable."""

    stable_key: str
    keys: list[str] = Field(default_factory=list, description="Challenger model versions, in spec order.")
    started_at: str
    outcome: str = Field(default="running", description="running, winner or keep-stable.")
    winner: str | None = None
    alpha_per_pair: float | None = None
    reason: str | None = None
    challengers: list[ChallengerStatus] = Field(default_factory=list)


class SeldonStatus(StatusModel):
    name: str | None = None
    state: str | None = None
    address: str | None = None
    description: str | None = None
    replicas: dict[str, int] = Field(default_factory=dict)
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="Predictors with no available replica, and why (from Seldon).")


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
    last_check_at: str | None = Field(default=None, description="When the guardrails were last checked.")
    quality_baseline: dict[str, float] | None = Field(
        default=None, description="Stable's labelled sums (n, total, totalSq) when the release started; "
                                  "the test uses what stable labelled since.")
    analysis: QualityStatus | None = Field(default=None, description="Last quality verdict of the release.")
    quality: str | None = Field(default=None, description="Quality estimates, for kubectl get.")
    shadow_delta: ShadowDeltaStatus | None = None
    tournament: TournamentStatus | None = Field(default=None, description="A/B/n test of spec.challengers.")
    last_decision: Decision | None = None
    arms: dict[str, ArmMetrics] = Field(default_factory=dict)
    seldon: SeldonStatus | None = None
    handled_annotations: dict[str, str] = Field(
        default_factory=dict, description="Last promote/abort annotation values acted upon."
    )
    feedback_address: str | None = Field(
        default=None, description="Where clients POST ground-truth labels for this deployment's answers "
                                  "(the monitor's /feedback; see the README's Monitor section).")


class ModelDeployment(ApiModel):
    """Serves a model version through Seldon Core with a direct, canary, A/B or shadow release."""

    api_version: Literal["mlops.dev/v1alpha1"] = "mlops.dev/v1alpha1"
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ModelDeploymentSpec = Field(description="The model version to serve, its release strategy and analysis, "
                                                  "challengers, replicas and server.")
    status: ModelDeploymentStatus | None = None
