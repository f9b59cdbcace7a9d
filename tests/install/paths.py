"""Where the install artefacts live, relative to the repository root."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "mlops-operator"
CRDS_DIR = REPO_ROOT / "crds"
MANIFESTS_DIR = REPO_ROOT / "manifests"
ARGOCD_DIR = MANIFESTS_DIR / "argocd"
HEALTH_DIR = ARGOCD_DIR / "health"
IMAGES_DIR = REPO_ROOT / "images"

RELEASE = "mlops-operator"
NAMESPACE = "mlops-system"
