"""Operator-wide kopf settings and the operator's own configuration."""
from __future__ import annotations

import logging
import socket

import kopf

from .. import kube, telemetry
from ..settings import Settings
from .state import MEMO_KEY, OperatorState, state


class _QuietRoutine(logging.Filter):
    """Routine successes say nothing: periodic timers, and the watch-event handlers that only wake an object's
    reconcile loop (one line per watch event was a tenth of the operator's CPU at 1,000 objects)."""

    ROUTINE = ("Timer ", "Handler 'project_event'", "Handler 'run_event'", "Handler 'deployment_event'",
               "Handler 'batch_event'", "Handler 'seldon_changed'")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = record.getMessage()
        return not (message.endswith(" succeeded.") and message.startswith(self.ROUTINE))


_QUIET_ROUTINE = _QuietRoutine()  # one instance: a second start in the same process adds no second filter


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: logging.Logger, **_) -> None:
    memo[MEMO_KEY] = OperatorState.from_env()
    ours = state(memo).settings
    # kopf keeps no bookkeeping on our objects (loops are daemons, changes only wake them); should it
    # ever need some, it goes into status, never into metadata users (or Argo CD) own.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.lastHandledConfiguration")
    logging.getLogger("kopf.objects").addFilter(_QUIET_ROUTINE)
    settings.posting.level = logging.INFO
    settings.posting.reporting_component = "mlops-operator"
    settings.posting.reporting_instance = socket.gethostname()
    settings.posting.event_name_prefix = "mlops-"
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = ours.api_timeout
    logger.info("mlops-operator configured: %s", ours)
    telemetry.serve(ours.metrics_port)


@kopf.on.cleanup()
async def close(memo: kopf.Memo, logger: logging.Logger, **_) -> None:
    """Close what startup opened (HTTP sessions), so a stopped operator leaves nothing behind."""
    logging.getLogger("kopf.objects").removeFilter(_QUIET_ROUTINE)
    if MEMO_KEY in memo:
        await memo.pop(MEMO_KEY).close()
    kube.close()
    logger.info("mlops-operator state closed")
