"""Operator configuration, read once from the environment (the Helm chart sets these)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default) or default


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value in ("true", "1", "yes")


@dataclass(frozen=True)
class Settings:
    training_backend: Literal["local", "kfp"] = "local"
    kfp_endpoint: str | None = None
    kfp_namespace: str = "kubeflow"
    kfp_experiment: str = "mlops-operator"
    artifact_root: str = "s3://mlpipeline/mlops-operator"
    # The object store (see training/storage.py): endpoint (MinIO, Ceph...; None: AWS S3), region, TLS
    # verification, and the name of the Secret holding the keys (None: boto3's own credential chain).
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_verify_tls: bool = True
    storage_secret: str | None = None
    metrics_provider: Literal["scrape", "prometheus"] = "scrape"
    prometheus_url: str | None = None
    seldon_metrics_url: str | None = None  # scrape: each predictor's Seldon executor (template); None: local splitter
    data_dir: Path = field(default_factory=lambda: Path(".dev"))
    components_image: str = "ghcr.io/mlops-dev/mlops-components:0.1.0"
    reconcile_interval: float = 10.0
    metrics_port: int = 0
    api_timeout: float = 30.0

    @classmethod
    def from_env(cls) -> "Settings":
        backend = _env("MLOPS_TRAINING_BACKEND", "local")
        provider = _env("MLOPS_METRICS_PROVIDER", "scrape")
        if backend not in ("local", "kfp"):
            raise ValueError(f"MLOPS_TRAINING_BACKEND must be local or kfp, not {backend!r}")
        if provider not in ("scrape", "prometheus"):
            raise ValueError(f"MLOPS_METRICS_PROVIDER must be scrape or prometheus, not {provider!r}")
        return cls(
            training_backend=backend,  # type: ignore[arg-type]
            kfp_endpoint=os.environ.get("MLOPS_KFP_ENDPOINT") or None,
            kfp_namespace=_env("MLOPS_KFP_NAMESPACE", "kubeflow"),
            kfp_experiment=_env("MLOPS_KFP_EXPERIMENT", "mlops-operator"),
            artifact_root=_env("MLOPS_ARTIFACT_ROOT", cls.artifact_root),
            s3_endpoint=os.environ.get("MLOPS_S3_ENDPOINT") or None,
            s3_region=os.environ.get("MLOPS_S3_REGION") or None,
            s3_verify_tls=_flag("MLOPS_S3_VERIFY", True),
            storage_secret=os.environ.get("MLOPS_STORAGE_SECRET") or None,
            metrics_provider=provider,  # type: ignore[arg-type]
            prometheus_url=os.environ.get("MLOPS_PROMETHEUS_URL") or None,
            seldon_metrics_url=os.environ.get("MLOPS_SELDON_METRICS_URL") or None,
            data_dir=Path(_env("MLOPS_DATA_DIR", ".dev")).resolve(),
            components_image=_env("MLOPS_COMPONENTS_IMAGE", cls.components_image),
            reconcile_interval=float(_env("MLOPS_RECONCILE_INTERVAL", "10")),
            metrics_port=int(_env("MLOPS_METRICS_PORT", "0")),
            api_timeout=float(_env("MLOPS_API_TIMEOUT", "30")),
        )
