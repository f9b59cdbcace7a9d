"""Operator-wide kopf settings and the operator's own configuration."""
from __future__ import annotations

import gc
import logging
import socket
from typing import Any

import kopf

from .. import kube, telemetry
from ..settings import Settings
from .state import MEMO_KEY, OperatorState, state


class _QuietRoutine(logging.Filter):
    """Routine successes say nothing: periodic timers, and the watch-event handlers that only wake an object's
    reconcile loop (one line per watch event was a tenth of the operator's CPU at 1,000 objects)."""

    ROUTINE = ("Timer ", "Handler 'project_deleted'", "Handler 'run_deleted'", "Handler 'deployment_deleted'",
               "Handler 'batch_event'", "Handler 'seldon_deleted'")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = record.getMessage()
        return not (message.endswith(" succeeded.") and message.startswith(self.ROUTINE))


class _NoDiffBase(kopf.DiffBaseStorage):
    """No "last handled configuration": kopf keeps it for change handlers (on.create/update/delete) and built
    it on every watch event by deep-copying the object (5% of the operator's CPU at 1,000 objects, py-spy).
    We register no change handlers (loops compare generations; tests/api/test_reconcile_loop.py holds it),
    so nothing is built, compared or written."""

    def fetch(self, *, body: kopf.Body) -> None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        pass

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        return None


_QUIET_ROUTINE = _QuietRoutine()  # one instance: a second start in the same process adds no second filter

#: Young objects are collected every 50,000 allocations, not Python's default 700. Each watch event and
#: reconcile allocates thousands of short-lived objects, and with thousands of objects held in kopf's memory
#: and indexes the default thresholds set off a full collection every few seconds: measured with gc callbacks
#: at 1,000 MLProjects + 1,000 ModelDeployments, a quarter of the operator's CPU (6 s of 25) was the cyclic
#: garbage collector; with these thresholds 1 s. Peak RSS measured the same as with 10,000.
GC_THRESHOLDS = (50_000, 20, 100)
GC_BEFORE = "gc_thresholds_before"  # in the operator's memo: the thresholds to restore at cleanup
WORKER_IDLE_TIMEOUT = 0.5  # seconds; above kopf's batch window (0.1 s), so one burst of events is one worker


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_) -> None:
    memo[MEMO_KEY] = OperatorState.from_env()
    memo[GC_BEFORE] = gc.get_threshold()
    gc.collect()
    gc.freeze()  # what importing made lives as long as the process: no collection needs to look at it again
    gc.set_threshold(*GC_THRESHOLDS)
    ours = state(memo).settings
    # kopf keeps no bookkeeping on our objects (loops are daemons, changes only wake them); should it
    # ever need some, it goes into status, never into metadata users (or Argo CD) own.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = _NoDiffBase()
    logging.getLogger("kopf.objects").addFilter(_QUIET_ROUTINE)
    settings.posting.level = logging.INFO
    settings.posting.reporting_component = "mlops-operator"
    settings.posting.reporting_instance = socket.gethostname()
    settings.posting.event_name_prefix = "mlops-"
    settings.watching.server_timeout = 300
    # kopf keeps a worker (two tasks and a queue) per object until it has had no event for this long (5 s by
    # default): at 1,000 + 1,000 objects every object had one through the whole burst, 25 MB of the peak RSS.
    settings.queueing.idle_timeout = WORKER_IDLE_TIMEOUT
    settings.networking.request_timeout = ours.api_timeout
    logger.info("mlops-operator configured: %s", ours)
    telemetry.serve(ours.metrics_port)


@kopf.on.cleanup()
async def close(memo: kopf.Memo, logger: logging.Logger, **_) -> None:
    """Close what startup opened (HTTP sessions), so a stopped operator leaves nothing behind."""
    logging.getLogger("kopf.objects").removeFilter(_QUIET_ROUTINE)
    if MEMO_KEY in memo:
        await memo.pop(MEMO_KEY).close()
    if GC_BEFORE in memo:  # an operator run inside another program leaves its collector as it was
        gc.set_threshold(*memo.pop(GC_BEFORE))
        gc.unfreeze()
    await kube.close()
    logger.info("mlops-operator state closed")
