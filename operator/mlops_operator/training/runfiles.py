"""The files of one local run directory, shared by the runner process and the local backend.

    <data_dir>/runs/<namespace>/<run>/
        pipeline.yaml   the compiled package that runs       launch.json  claimed by the backend (pid)
        runner.log      the runner's output                  state.json   written by the runner when done
        result.json     the register step's status fields    error.json   the failing step's message
        model/          the model directory                  pipeline-root/  kfp.local outputs
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PIPELINE = "pipeline.yaml"
LAUNCH = "launch.json"
STATE = "state.json"
RESULT = "result.json"
ERROR = "error.json"
LOG = "runner.log"
MODEL = "model"
PIPELINE_ROOT = "pipeline-root"


def run_dir(data_dir: Path, namespace: str, run_name: str) -> Path:
    return Path(data_dir).resolve() / "runs" / namespace / run_name


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Atomic: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2, sort_keys=True))
    tmp.replace(path)


def claim(path: Path, document: dict[str, Any]) -> bool:
    """Create `path` only if absent: the first submit of a run wins, retries see it taken."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)
    return True
