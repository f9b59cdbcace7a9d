"""Make a failing step's reason reach the TrainingRun status.

Pipeline engines only report "task X failed"; a component that fails therefore also writes
`error.json` ({"step", "message"}) next to the run's outputs, where both backends read it.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from . import locations

ERROR_FILE = "error.json"


class StepFailed(RuntimeError):
    """A step refused its input; the message names what is wrong."""


@contextlib.contextmanager
def recorded(step: str, output_uri: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if output_uri:
            document = {"step": step, "message": str(exc), "error": type(exc).__name__}
            try:
                locations.write_bytes(locations.join(output_uri, ERROR_FILE), json.dumps(document).encode())
            except Exception as write_error:  # the original failure matters more
                print(f"could not record the failure at {output_uri}: {write_error}")
        raise
