"""Cron schedules as a Kubernetes CronJob accepts them, evaluated in UTC, with a maintained library (croniter).

Accepted: five fields (minute hour day-of-month month day-of-week) with ranges, lists, steps, month and
weekday names (JAN, MON), 0 or 7 for Sunday, `?` for "any", and the macros @yearly/@annually, @monthly,
@weekly, @daily/@midnight and @hourly. When both day fields are restricted either one matching fires, as
with cron and CronJob. Six- and seven-field (seconds, years) forms are refused: a CronJob refuses them too.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from croniter import CroniterBadDateError, croniter

#: How far back a missed schedule is looked for; older fire times are skipped, not replayed.
LOOKBACK = timedelta(days=2)
MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}


def parse_cron(expr: str) -> str:
    """The five-field form of a schedule; ValueError naming the schedule when a CronJob would refuse it."""
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise ValueError(f"cron schedule {expr!r}: unknown macro; use one of {', '.join(MACROS)}")
        return MACROS[text.lower()]
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"cron schedule {expr!r} must have 5 fields (minute hour day-of-month month day-of-week) "
                         f"or be a macro such as @daily")
    text = " ".join("*" if f == "?" else f for f in fields)
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=timezone.utc))
    except (ValueError, KeyError) as e:  # croniter's errors are ValueErrors
        raise ValueError(f"cron schedule {expr!r}: {str(e).split('] ', 1)[-1]}") from None
    return text


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
