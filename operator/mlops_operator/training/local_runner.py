"""Run one compiled training pipeline with kfp.local, in its own process.

    python -m mlops_operator.training.local_runner RUN_DIR

Runs RUN_DIR/pipeline.yaml (the same IR a KFP cluster would get) with kfp.local's SubprocessRunner
in the current environment, then writes RUN_DIR/state.json: Succeeded (the register step wrote
result.json at the pipeline's output_uri) or Failed with the failing step's message (error.json). A separate process keeps the operator's event loop free
and lets a restarted operator pick up the outcome from disk.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

from mlops_components import locations

from . import runfiles


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(directory: Path) -> dict:
    from kfp import local
    from kfp.components import load_component_from_file
    from kfp.local import pipeline_orchestrator

    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(directory / runfiles.PIPELINE_ROOT),
        raise_on_error=False,
    )
    spec = load_component_from_file(str(directory / runfiles.PIPELINE)).pipeline_spec
    pipeline_orchestrator.run_local_pipeline(pipeline_spec=spec, arguments={})
    output = spec.root.input_definitions.parameters["output_uri"].default_value.string_value
    return outcome(directory, output or directory.as_uri())


def _read(uri: str) -> dict | None:
    try:
        return json.loads(locations.read_bytes(uri))
    except (OSError, ValueError):
        return None


def outcome(directory: Path, output_uri: str) -> dict:
    """The final state, from what the pipeline's steps left at its output location."""
    if _read(locations.join(output_uri, runfiles.RESULT)) is not None:
        return {"state": "Succeeded", "message": "pipeline succeeded", "finishedAt": _now()}
    error = _read(locations.join(output_uri, runfiles.ERROR))
    if error:
        return {"state": "Failed", "message": f"step {error.get('step')} failed: {error.get('message')}",
                "failedStep": error.get("step"), "finishedAt": _now()}
    return {"state": "Failed", "message": f"pipeline failed; see {directory / runfiles.LOG}", "finishedAt": _now()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    directory = parser.parse_args(argv).run_dir.resolve()
    try:
        state = run(directory)
    except Exception as exc:  # the backend must learn why, not find a silent corpse
        traceback.print_exc()
        state = {"state": "Failed", "message": f"local runner error: {exc}", "finishedAt": _now()}
    runfiles.write_json(directory / runfiles.STATE, state)
    return 0 if state["state"] == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
