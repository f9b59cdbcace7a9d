"""Cron schedule syntax, as a Kubernetes CronJob accepts it: part of the API, because the CRD schema
cannot check it, so MLProject and BatchPrediction validate their `schedule` fields with it.

Accepted: five fields (minute hour day-of-month month day-of-week) with ranges, lists, steps, month and
weekday names (JAN, MON), 0 or 7 for Sunday, `?` for "any", and the macros @yearly/@annually, @monthly,
@weekly, @daily/@midnight and @hourly. Six- and seven-field (seconds, years) forms are refused: a CronJob
refuses them too.
"""
from __future__ import annotations

from datetime import datetime, timezone

from croniter import croniter

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
