"""The training reference of a model version: the bins live inputs are counted in.

`reference.json` (written by mlops_components.modeldir beside the model) holds deciles of each
numeric feature and the category shares of the others; `signature.json` says whether the model
classifies or regresses. Both are read once per model URI. When the event names no URI, or the
files cannot be read, the model gets no per-feature bins and the monitor counts that instead of
failing: recording the inference matters more than binning it.
"""
from __future__ import annotations

import bisect
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from mlops_components import locations

from . import payloads

log = logging.getLogger(__name__)

OTHER = "other"


@dataclass(frozen=True)
class Reference:
    """Bin edges per feature (numeric: interior deciles; categorical: the training categories)."""

    numeric: dict[str, list[float]] = field(default_factory=dict)
    categorical: dict[str, frozenset[str]] = field(default_factory=dict)
    task: str | None = None
    classes: tuple[str, ...] | None = None  # signature.json's, in predict_proba's column order

    def bin(self, feature: str, value: Any) -> str | None:
        """The bin label of one value, or None for a feature the reference does not know."""
        if feature in self.numeric:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return "invalid"
            if number != number:
                return "missing"
            return str(bisect.bisect_right(self.numeric[feature], number))
        if feature in self.categorical:
            if value is None:
                return "missing"
            text = str(value)
            return text if text in self.categorical[feature] else OTHER
        return None


def parse(document: dict[str, Any], signature: dict[str, Any] | None = None) -> Reference:
    numeric, categorical = {}, {}
    for name, entry in (document.get("features") or {}).items():
        if entry.get("kind") == "numeric" and entry.get("quantiles"):
            edges = sorted(float(q) for q in entry["quantiles"][1:-1])
            numeric[name] = edges
        elif entry.get("kind") == "categorical":
            categorical[name] = frozenset(str(k) for k in (entry.get("frequencies") or {}))
    classes = (signature or {}).get("classes")
    return Reference(numeric, categorical, (signature or {}).get("task"),
                     tuple(payloads.class_name(c) for c in classes) if isinstance(classes, list) else None)


class References:
    """A cache of references by model URI; `None` for a model without one."""

    def __init__(self) -> None:
        self._cache: dict[str, Reference | None] = {}

    def get(self, model_uri: str) -> Reference | None:
        if not model_uri:
            return None
        if model_uri not in self._cache:
            self._cache[model_uri] = self._load(model_uri)
        return self._cache[model_uri]

    @staticmethod
    def _load(model_uri: str) -> Reference | None:
        try:
            document = json.loads(locations.read_bytes(locations.join(model_uri, "reference.json")))
        except (OSError, ValueError, RuntimeError) as exc:
            log.info("no training reference for %s: %s", model_uri, exc)
            return None
        try:
            signature = json.loads(locations.read_bytes(locations.join(model_uri, "signature.json")))
        except (OSError, ValueError, RuntimeError):
            signature = None
        return parse(document, signature)
