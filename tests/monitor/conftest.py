"""Fixtures: a token file, a model directory with a real training reference, a running monitor."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mlops_components import modeldir  # noqa: E402
from mlops_operator.monitor.auth import write_token  # noqa: E402
from monitor_process import MonitorProcess  # noqa: E402

FEATURES = [{"name": "x", "type": "float"}, {"name": "colour", "type": "category"}]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "dev" / "monitor-token"
    write_token(path)
    return path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """reference.json and signature.json as modeldir writes them, from a known training frame."""
    directory = tmp_path / "model-v1"
    directory.mkdir()
    train = pd.DataFrame({"x": [float(i) for i in range(100)], "colour": ["red", "blue"] * 50})
    (directory / "reference.json").write_text(json.dumps(modeldir.reference(train, FEATURES)))
    (directory / "signature.json").write_text(json.dumps(modeldir.signature(FEATURES, "y", "classification", [0, 1])))
    return directory


@pytest.fixture
def monitor(tmp_path: Path, token_file: Path):
    m = MonitorProcess(tmp_path / "data", token_file, "--compact-interval", "0.5").start()
    yield m
    m.kill()
