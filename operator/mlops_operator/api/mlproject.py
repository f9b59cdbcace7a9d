"""MLProject: one machine-learning use case, from dataset to serving champion."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from .cron import parse_cron
from .common import ApiModel, LocalObjectReference, ObjectStatus, StatusModel

ColumnType = Literal["float", "int", "string", "category", "bool"]
MetricName = Literal["roc_auc", "accuracy", "f1", "precision", "recall", "log_loss", "rmse", "mae", "r2"]
#: Metrics where a smaller value is better; the others improve upwards.
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "rmse", "mae"})
CLASSIFICATION_METRICS: frozenset[str] = frozenset({"roc_auc", "accuracy", "f1", "precision", "recall", "log_loss"})


class ColumnSchema(ApiModel):
    """What one column of the dataset must look like."""

    name: str = Field(min_length=1, description="Column name as it appears in the data.")
    type: ColumnType = Field(description="Expected type; category and string columns are one-hot encoded.")
    min: float | None = Field(default=None, description="Smallest allowed value (numeric columns).")
    max: float | None = Field(default=None, description="Largest allowed value (numeric columns).")
    categories: list[str] | None = Field(default=None, description="Allowed values (category/string columns).")
    nullable: bool = Field(default=False, description="Whether missing values are allowed.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
                 "message": "min must not exceed max", "fieldPath": ".min"},
            ]
        }
    }


class DatasetSchema(ApiModel):
    columns: list[ColumnSchema] = Field(
        min_length=1, description="Every column the data must have (the target too): name, type, range or categories.")


class Dataset(ApiModel):
    """The training data: where it is, which version, what it must look like."""

    uri: str = Field(
        min_length=1,
        description=(
            "Where the data is: a file path or file:// URI, http(s)://, s3://, or built-in demo data "
            "'sklearn:<name>' (for example sklearn:breast_cancer) or 'palmerpenguins'."
        ),
    )
    version: str = Field(min_length=1, description="Version label; a new value starts a TrainingRun. With a "
                                                   "{version} placeholder in the URI, 'latest' follows the newest "
                                                   "version the source lists (files or s3:// keys), checked each minute.")
    target: str = Field(min_length=1, description="Column to predict.")
    format: Literal["csv", "parquet"] = Field(default="csv", description="File format for file/http/s3 URIs.")
    schema_: DatasetSchema | None = Field(
        default=None, alias="schema", description="Columns the data must have; checked before training."
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "self.version != 'latest' || self.uri.contains('{version}')",
                 "message": "version latest needs a {version} placeholder in the URI", "fieldPath": ".uri"},
            ]
        }
    }

    @model_validator(mode="after")
    def _latest_needs_a_placeholder(self) -> "Dataset":
        if self.version == "latest" and "{version}" not in self.uri:
            raise ValueError("dataset.uri: version latest needs a {version} placeholder in the URI, "
                             "like s3://bucket/data/{version}/train.csv")
        return self


class Candidate(ApiModel):
    """One estimator family with a hyperparameter grid; every grid point is trained."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                      description="Candidate name (a DNS label), shown in status and lineage.")
    estimator: str = Field(
        min_length=1,
        description="scikit-learn estimator class, e.g. LogisticRegression or sklearn.ensemble.RandomForestClassifier.",
    )
    hyperparameters: dict[str, list[Any]] = Field(
        default_factory=dict, description="Grid: each name maps to the values to try."
    )
    preprocessing: Literal["standard", "minmax", "none"] = Field(
        default="standard", description="Scaling of numeric columns; categories are one-hot encoded."
    )

    def grid_size(self) -> int:
        size = 1
        for values in self.hyperparameters.values():
            size *= max(len(values), 1)
        return size


class SuccessMetric(ApiModel):
    """The metric that decides: a model below the minimum is never blessed."""

    name: MetricName = Field(default="roc_auc", description="Metric computed on the held-out rows.")
    minimum: float | None = Field(
        default=None,
        description="Threshold the model must reach (for rmse/mae/log_loss: must not exceed).",
    )

    def lower_is_better(self) -> bool:
        return self.name in LOWER_IS_BETTER

    def passes(self, value: float) -> bool:
        if self.minimum is None:
            return True
        return value <= self.minimum if self.lower_is_better() else value >= self.minimum


class ChampionPolicy(ApiModel):
    """How a new model must compare with the current champion on the same held-out data."""

    min_improvement: float = Field(
        default=0.0, ge=0, description="How much better than the champion a challenger must be."
    )
    require_significance: bool = Field(
        default=False,
        description="Also require the paired bootstrap interval of the difference to exclude zero.",
    )


class ApprovalPolicy(ApiModel):
    required: bool = Field(default=False, description="A blessed model waits for a person's approval.")
    approvers: list[str] = Field(
        default_factory=list, description="Users allowed to approve; empty means whoever RBAC lets patch."
    )


class KfpSettings(ApiModel):
    """Kubeflow Pipelines connection; unset fields use the operator's settings."""

    endpoint: str | None = Field(default=None, description="KFP API address; defaults to the operator's.")
    namespace: str | None = Field(default=None, description="Kubeflow namespace (multi-user KFP).")
    experiment: str | None = Field(default=None, description="KFP experiment the runs are filed under.")


class ObjectStorage(ApiModel):
    """The object store of this project's s3:// data and models; unset fields use the operator's settings."""

    endpoint: str | None = Field(
        default=None, pattern=r"^https?://",
        description="S3 API address of an S3-compatible store (MinIO, Ceph, GCS's S3 API); empty means AWS S3.")
    region: str | None = Field(default=None, description="Region of the bucket (AWS S3); most other stores ignore it.")
    verify_tls: bool | None = Field(default=None, description="Check the store's TLS certificate (false: self-signed).")
    secret_name: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$",
        description="Secret with the store's keys, in the format of Seldon's rclone storage initializer "
                    "(RCLONE_CONFIG_S3_ACCESS_KEY_ID, RCLONE_CONFIG_S3_SECRET_ACCESS_KEY, ...): pipeline steps get "
                    "the two keys as AWS_* variables, the operator reads them from the project's namespace, and "
                    "SeldonDeployments name it as envSecretRefName. It must exist wherever those run.")


class TrainingPolicy(ApiModel):
    backend: Literal["local", "kfp"] | None = Field(
        default=None, description="Where pipelines run; defaults to the operator's setting."
    )
    test_size: float = Field(default=0.25, gt=0, lt=1, description="Share of rows held out for evaluation.")
    seed: int = Field(default=42, ge=0, description="Seed of the split, the estimators and the bootstrap.")
    bootstrap_samples: int = Field(default=200, ge=10, le=10000, description="Resamples for confidence intervals.")
    schedule: str | None = Field(
        default=None, description="Cron schedule that starts a TrainingRun, as a Kubernetes CronJob takes it (5 fields, "
                                  "names such as MON, 7 for Sunday, or @hourly/@daily/@weekly/@monthly/@yearly), in UTC.")
    allow_concurrent_runs: bool = Field(default=False, description="Start a run while another is unfinished.")
    history_limit: int = Field(default=10, ge=1, le=100, description="Model versions kept in status.history.")
    kfp: KfpSettings | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            parse_cron(value)  # the CRD schema cannot check cron syntax
        return value


class DriftPolicy(ApiModel):
    """Live drift of the project's deployments (from the monitor) and what to do about it."""

    enabled: bool = Field(default=False, description="Watch live inputs for drift from the training data.")
    statistic: Literal["psi", "js", "ks", "wasserstein"] = Field(
        default="psi", description="Effect size per feature: a feature drifts when it reaches `threshold` and its "
                                   "KS (numeric) or chi-square (categorical) p-value survives Holm's correction.")
    threshold: float = Field(default=0.2, gt=0, description="Statistic value above which a feature drifted.")
    window: int = Field(default=500, ge=10, description="Live values of a feature a window must hold before it is "
                                                        "tested (the monitor closes windows by count and time).")
    alpha: float = Field(default=0.05, gt=0, lt=1,
                         description="False-alarm level of one window across all features (Holm-corrected).")
    retrain: bool = Field(default=False, description="Start a TrainingRun (trigger drift) when drift starts.")
    retrain_data: Literal["live", "dataset"] = Field(
        default="live", description="What a drift retrain trains on: live = the monitor's recorded inputs joined "
                                    "with their labels, exported as a snapshot with a digest; dataset = the "
                                    "project's dataset at its current version.")
    mix_training_data: bool = Field(
        default=False, description="With retrainData live: add the project's dataset (at its current version) to the "
                                   "live rows in the snapshot, so the retrain keeps what the live window did not show.")
    min_labelled_rows: int = Field(default=100, ge=10, description="Labelled live rows needed before a live retrain.")
    cooldown_seconds: int = Field(default=3600, ge=0, description="No drift retrain within this long of the last one.")
    max_concurrent_retrains: int = Field(default=1, ge=1, le=10, description="Unfinished drift retrains at most.")


class MLProjectSpec(ApiModel):
    dataset: Dataset
    candidates: list[Candidate] = Field(
        min_length=1, max_length=20,
        description="Estimator families to try, each with a hyperparameter grid; every grid point is trained and "
                    "the best on the held-out rows is the challenger.")
    metric: SuccessMetric = Field(default_factory=SuccessMetric)
    champion: ChampionPolicy = Field(default_factory=ChampionPolicy)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy, description="Whether a person must approve.")
    training: TrainingPolicy = Field(default_factory=TrainingPolicy, description="Where and how pipelines run.")
    drift: DriftPolicy = Field(default_factory=DriftPolicy, description="Drift detection and retraining.")
    storage: ObjectStorage | None = Field(
        default=None, description="Object store settings for this project; defaults to the operator's.")

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "self.candidates.all(c, self.candidates.exists_one(d, d.name == c.name))",
                 "message": "candidate names must be unique", "fieldPath": ".candidates"},
            ]
        }
    }

    @model_validator(mode="after")
    def _unique_candidates(self) -> "MLProjectSpec":
        names = [c.name for c in self.candidates]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"candidates: names must be unique, repeated: {', '.join(dupes)}")
        return self


class ChampionRef(StatusModel):
    """The model version that currently wins, with the number it won with."""

    training_run: str
    model_uri: str | None = None
    metric: str | None = None
    value: float | None = None
    display: str | None = Field(default=None, description="The value rounded for kubectl get (0.986).")
    since: str | None = None


class HistoryEntry(StatusModel):
    training_run: str
    dataset_version: str | None = None
    result: str
    metric: str | None = None
    value: float | None = None
    time: str | None = None


class LatestVersion(StatusModel):
    version: str | None = Field(default=None, description="The newest version found under the dataset URI.")
    checked_at: str | None = Field(default=None, description="When the source was last listed.")
    error: str | None = Field(default=None, description="Why the last listing failed, naming the URI.")


class MLProjectStatus(ObjectStatus):
    champion: ChampionRef | None = None
    serving: ChampionRef | None = Field(default=None, description="The version promoted to serve traffic.")
    latest_run: str | None = None
    last_dataset_version: str | None = Field(
        default=None, description="Dataset version the last TrainingRun was started for."
    )
    last_scheduled_time: str | None = None
    latest_dataset_version: LatestVersion | None = Field(
        default=None, description="With dataset.version latest: the newest version the source lists, as last checked.")
    drift: dict[str, Any] | None = Field(
        default=None, description="Live drift: verdict, episode (since, model version), top features with their "
                                  "statistics, window, the last drift retrain, staleness per model version, and "
                                  "errorSlices: the feature bins where the served models' live error most "
                                  "exceeds their overall error (from labelled records, refreshed each minute).")
    history: list[HistoryEntry] = Field(default_factory=list)


class MLProject(ApiModel):
    """An ML use case: dataset, candidates, success metric, champion, approval and drift policy."""

    api_version: Literal["mlops.dev/v1alpha1"] = "mlops.dev/v1alpha1"
    kind: Literal["MLProject"] = "MLProject"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: MLProjectSpec = Field(description="The use case: dataset, candidates, success metric, champion, approval, "
                                            "training and drift policy.")
    status: MLProjectStatus | None = None


# Re-exported for readers looking for a project reference type.
ProjectRef = LocalObjectReference
