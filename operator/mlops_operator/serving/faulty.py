"""A scikit-learn MLServer runtime that fails on purpose, so rollback paths meet a REAL failure.

Selected per model directory through its model-settings.json (`implementation` set to
`FAULTY_IMPLEMENTATION`), so the same serving path (controller, MLServer, splitter) carries
it; only the model misbehaves. Failures are spread evenly and deterministically: after n
requests exactly floor(n * failure_rate) have failed, which keeps tests reproducible.

This module is imported by MLServer worker processes only; it is the one place that imports MLServer.
"""
from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver_sklearn import SKLearnModel

FAULTY_IMPLEMENTATION = "mlops_operator.serving.faulty.FaultySKLearnModel"


class InjectedFailure(MLServerError):
    """An HTTP 500 the model raised on purpose."""

    def __init__(self, count: int):
        super().__init__(f"injected failure on request {count}", status_code=500)


class FaultySKLearnModel(SKLearnModel):
    """SKLearnModel that answers 500 on a share of requests and may add latency.

    parameters.extra: failure_rate (0..1, default 1.0) and latency_ms (default 0).
    """

    async def load(self) -> bool:
        extra = (self.settings.parameters.extra if self.settings.parameters else None) or {}
        self._failure_rate = float(extra.get("failure_rate", 1.0))
        self._latency_s = float(extra.get("latency_ms", 0)) / 1000.0
        if not 0.0 <= self._failure_rate <= 1.0:
            raise ValueError(f"parameters.extra.failure_rate: {self._failure_rate} is outside 0..1")
        self._requests = 0
        return await super().load()

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        self._requests += 1
        n = self._requests
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        if math.floor(n * self._failure_rate) > math.floor((n - 1) * self._failure_rate):
            raise InjectedFailure(n)
        return await super().predict(payload)


def make_faulty(model_dir: str | Path, failure_rate: float = 1.0, latency_ms: float = 0) -> Path:
    """Turn a model directory into a faulty one (rewrites its model-settings.json)."""
    if not 0.0 <= failure_rate <= 1.0:
        raise ValueError(f"failure_rate: {failure_rate} is outside 0..1")
    path = Path(model_dir) / "model-settings.json"
    settings = json.loads(path.read_text()) if path.exists() else {"parameters": {"uri": "./model.joblib"}}
    settings["implementation"] = FAULTY_IMPLEMENTATION
    params = settings.setdefault("parameters", {})
    params.setdefault("uri", "./model.joblib")
    params["extra"] = {**(params.get("extra") or {}), "failure_rate": failure_rate, "latency_ms": latency_ms}
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return Path(model_dir)
