"""Load the current champion's fitted Pipeline from its model URI (a model directory or a .joblib file)."""
from __future__ import annotations

from pathlib import Path

from . import locations
from .modeldir import MODEL_FILE


def load_champion(model_uri: str, scratch: str):
    import joblib

    if model_uri.endswith(".joblib"):
        data = locations.read_bytes(model_uri)
    else:
        data = locations.read_bytes(locations.join(model_uri, MODEL_FILE))
    path = Path(scratch) / MODEL_FILE
    path.write_bytes(data)
    return joblib.load(path)
