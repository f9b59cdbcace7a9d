"""Five-field cron schedules (minute hour day-of-month month day-of-week), evaluated in UTC."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
#: How far back a missed schedule is looked for; older fire times are skipped, not replayed.
LOOKBACK = timedelta(days=2)


def _field(text: str, lo: int, hi: int, name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = lo, hi
        elif "-" in body:
            start, end = (int(x) for x in body.split("-", 1))
        else:
            start = end = int(body)
        if step < 1 or not (lo <= start <= end <= hi):
            raise ValueError(f"{name} field {part!r} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expr: str) -> tuple[frozenset[int], ...]:
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron schedule {expr!r} must have 5 fields")
    try:
        parsed = tuple(_field(f, lo, hi, n) for f, (lo, hi), n in zip(fields, _RANGES, _NAMES))
    except ValueError as e:
        raise ValueError(f"cron schedule {expr!r}: {e}") from None
    dow = parsed[4] | ({0} if 7 in parsed[4] else set())
    return (*parsed[:4], frozenset(dow))


def _matches(fields: tuple[frozenset[int], ...], t: datetime) -> bool:
    minute, hour, dom, month, dow = fields
    return (t.minute in minute and t.hour in hour and t.day in dom and t.month in month
            and (t.weekday() + 1) % 7 in dow)


def last_fire_time(expr: str, after: float, now: float) -> float | None:
    """The latest scheduled minute in (after, now], or None: at most one run however many were missed."""
    fields = parse_cron(expr)
    end = datetime.fromtimestamp(now, timezone.utc).replace(second=0, microsecond=0)
    start = max(datetime.fromtimestamp(after, timezone.utc), end - LOOKBACK)
    t = end
    while t > start:
        if _matches(fields, t):
            return t.timestamp()
        t -= timedelta(minutes=1)
    return None
