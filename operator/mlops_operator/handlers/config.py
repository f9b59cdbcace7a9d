"""Operator-wide kopf settings and the operator's own configuration."""
from __future__ import annotations

import functools
import logging
import socket

import kopf

from .. import telemetry
from ..settings import Settings


@functools.cache
def operator_settings() -> Settings:
    return Settings.from_env()


class _QuietTimers(logging.Filter):
    """Periodic reconciles succeed every few seconds; say so only when something else happens."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and record.getMessage().startswith("Timer ")
                    and record.getMessage().endswith(" succeeded."))


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_) -> None:
    # kopf keeps no bookkeeping on our objects (loops are daemons, changes only wake them); should it
    # ever need some, it goes into status, never into metadata users (or Argo CD) own.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.lastHandledConfiguration")
    logging.getLogger("kopf.objects").addFilter(_QuietTimers())
    settings.posting.level = logging.INFO
    settings.posting.reporting_component = "mlops-operator"
    settings.posting.reporting_instance = socket.gethostname()
    settings.posting.event_name_prefix = "mlops-"
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = operator_settings().api_timeout
    logger.info("mlops-operator configured: %s", operator_settings())
    telemetry.serve(operator_settings().metrics_port)
