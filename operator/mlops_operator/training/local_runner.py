"""Run one compiled training pipeline with kfp.local, in its own process.

    python -m mlops_operator.training.local_runner RUN_DIR

Runs RUN_DIR/pipeline.yaml (the same IR a KFP cluster would get) with kfp.local's SubprocessRunner
in the current environment, then writes RUN_DIR/state.json: Succeeded (every step succeeded; the
backend reads the register step's result.json at the pipeline's output_uri) or Failed with the failing
step's message (error.json). A separate process keeps the operator's event loop free and lets a
restarted operator pick up the outcome from disk. The runner itself needs no access to the output
location when the steps succeed: on a cluster, KFP does not read it either.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

from mlops_components import locations
from mlops_components.locations import StorageError

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
    failed: list[list[str]] = []
    report = pipeline_orchestrator.log_and_maybe_raise_for_failure  # kfp.local's one call on a failed DAG (kfp pinned)

    def record(pipeline_name, raise_on_error, fail_stack):
        failed.append(list(fail_stack))
        report(pipeline_name, raise_on_error, fail_stack)

    pipeline_orchestrator.log_and_maybe_raise_for_failure = record
    try:
        pipeline_orchestrator.run_local_pipeline(pipeline_spec=spec, arguments={})
    finally:
        pipeline_orchestrator.log_and_maybe_raise_for_failure = report
    output = spec.root.input_definitions.parameters["output_uri"].default_value.string_value
    return outcome(directory, output or directory.as_uri(), succeeded=not failed)


def _read(uri: str) -> dict | None:
    try:
        return json.loads(locations.read_bytes(uri))
    except (OSError, ValueError, StorageError):  # missing, or a store this process may not read
        return None


def outcome(directory: Path, output_uri: str, succeeded: bool | None = None) -> dict:
    """The final state: the DAG's own verdict when known, else what the steps left at the output location."""
    if succeeded or (succeeded is None and _read(locations.join(output_uri, runfiles.RESULT)) is not None):
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
