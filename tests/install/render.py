"""Render the chart with Helm's own engine (helm-python-sdk) and the manifests with kubectl kustomize."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from .paths import CHART_DIR, NAMESPACE, RELEASE

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def parse_documents(text: str) -> list[dict[str, Any]]:
    """All non-empty YAML documents of a multi-document stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


#: The chart refuses its bare defaults (local training without object storage: Seldon could never load the
#: models, see _helpers.tpl). trainOnly accepts that and changes no rendered object, so tests about anything
#: else render with it; tests of the refusal set training.local.trainOnly themselves.
TRAIN_ONLY = {"training": {"local": {"trainOnly": True}}}


def _merged(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in values.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render_chart_files(
    values: dict[str, Any] | None = None, *, namespace: str = NAMESPACE, release: str = RELEASE, exact: bool = False
) -> dict[str, str]:
    """Template path -> rendered text, exactly what `helm template` would print per file (`exact`: with the
    values as given, without TRAIN_ONLY: what a user's install would do)."""
    values = (values or {}) if exact else _merged(TRAIN_ONLY, values or {})
    with helm.Chart.load(CHART_DIR) as chart:
        return chart.render(values, name=release, namespace=namespace, is_install=True)


def render_chart(
    values: dict[str, Any] | None = None, *, namespace: str = NAMESPACE, release: str = RELEASE, exact: bool = False
) -> list[dict[str, Any]]:
    """The chart's template objects (not its crds/), in file order."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(render_chart_files(values, namespace=namespace, release=release, exact=exact).items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(parse_documents(text))
    return objects


def chart_crds() -> list[dict[str, Any]]:
    """The CRDs Helm installs from the chart's crds/ directory (as the SDK loads them)."""
    with helm.Chart.load(CHART_DIR) as chart:
        return [doc for crd in chart.crds for doc in parse_documents(crd["data"])]


def chart_notes(values: dict[str, Any] | None = None) -> str:
    files = render_chart_files(values)
    return next(text for path, text in files.items() if path.endswith("NOTES.txt"))


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize <directory>` parsed into objects."""
    result = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return parse_documents(result.stdout)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The single object of `kind` (and `name`), with a clear error otherwise."""
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    if len(found) != 1:
        names = [o["metadata"]["name"] for o in by_kind(objects, kind)]
        raise AssertionError(f"expected one {kind} named {name!r}, found {len(found)} among {names}")
    return found[0]
