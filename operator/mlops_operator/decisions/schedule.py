"""When a cron schedule fires, evaluated in UTC with a maintained library (croniter).

The syntax (api/cron.py) is the CronJob's; when both day fields are restricted either one matching
fires, as with cron and CronJob.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from croniter import CroniterBadDateError, croniter

from ..api.cron import parse_cron

#: How far back a missed schedule is looked for; older fire times are skipped, not replayed.
LOOKBACK = timedelta(days=2)


def last_fire_time(expr: str, after: float, now: float) -> float | None:
    """The latest scheduled minute in (after, now], or None: at most one run however many were missed."""
    fields = parse_cron(expr)
    end = datetime.fromtimestamp(now, timezone.utc).replace(second=0, microsecond=0)
    start = max(datetime.fromtimestamp(after, timezone.utc), end - LOOKBACK)
    try:
        fire = croniter(fields, end + timedelta(seconds=1)).get_prev(datetime)
    except CroniterBadDateError:  # valid but never fires (e.g. 0 0 31 2 *): like a CronJob, never run
        return None
    return fire.timestamp() if fire > start else None
