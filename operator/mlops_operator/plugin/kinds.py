"""The three kinds as the plugin names them: `mlp|mlproject`, `tr|trainingrun`, `md|modeldeployment`."""
from __future__ import annotations

from dataclasses import dataclass

from ..api.common import GROUP, VERSION


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short: str

    @property
    def resource(self) -> str:
        """How kubectl names the resource in messages: `modeldeployments.mlops.dev`."""
        return f"{self.plural}.{GROUP}"

    @property
    def singular(self) -> str:
        return self.kind.lower()


MLPROJECT = Kind("MLProject", "mlprojects", "mlp")
TRAININGRUN = Kind("TrainingRun", "trainingruns", "tr")
MODELDEPLOYMENT = Kind("ModelDeployment", "modeldeployments", "md")
KINDS = (MLPROJECT, TRAININGRUN, MODELDEPLOYMENT)
API_GROUP, API_VERSION = GROUP, VERSION


def parse_kind(text: str, allowed: tuple[Kind, ...] = KINDS) -> Kind:
    """`md`, `modeldeployment`, `modeldeployments` or `modeldeployments.mlops.dev` -> the kind."""
    t = text.lower().removesuffix(f".{GROUP}")
    for k in allowed:
        if t in (k.short, k.singular, k.plural):
            return k
    names = " or ".join(f"{k.short} ({k.singular})" for k in allowed)
    raise ValueError(f"unknown kind {text!r}: expected {names}")
