"""A kubeconfig for the embedded API: plain http on loopback, no credentials."""
from __future__ import annotations

from pathlib import Path

import yaml


def kubeconfig(url: str, context: str = "mlops-embedded", namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "current-context": context,
        "preferences": {},
    }


def write_kubeconfig(path: str | Path, url: str, context: str = "mlops-embedded", namespace: str = "default") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(url, context, namespace), sort_keys=False))
    path.chmod(0o600)
    return path
