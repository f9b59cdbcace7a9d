"""Windows of live traffic for drift checks: bin counts accumulated until `size` requests or `seconds`.

Tumbling windows: a window closes when it holds `size` requests, or when `seconds` have passed since
its first request (checked on every add, and by `tick` for timers when traffic stops). The closed
window is what `drift.decide` judges; the next one starts empty. Time is passed in (`now`, seconds
on any monotonic clock), so the structure stays pure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    counts: np.ndarray  # (features, bins)
    requests: int = 0
    started: float | None = None  # time of the first request


def empty(features: int, bins: int) -> Window:
    if features < 1 or bins < 1:
        raise ValueError(f"features, bins: must be >= 1, got {features}, {bins}")
    return Window(np.zeros((features, bins), dtype=np.int64))


def _check(size: int | None, seconds: float | None) -> None:
    if size is None and seconds is None:
        raise ValueError("size, seconds: give at least one")
    if size is not None and size < 1:
        raise ValueError(f"size: must be >= 1, got {size}")
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds: must be > 0, got {seconds}")


def _expired(window: Window, now: float, seconds: float | None) -> bool:
    return seconds is not None and window.started is not None and now - window.started >= seconds


def tick(window: Window, now: float, *, seconds: float | None) -> tuple[Window, tuple[Window, ...]]:
    """Close the window when its time is up; returns (current window, closed windows)."""
    if _expired(window, now, seconds):
        return Window(np.zeros_like(window.counts)), (window,)
    return window, ()


def add(window: Window, counts, requests: int, now: float, *, size: int | None = None,
        seconds: float | None = None) -> tuple[Window, tuple[Window, ...]]:
    """Add a batch of `requests` with their bin `counts`; returns (current window, closed windows, oldest first).

    A window past its time closes before the batch is added (the batch starts the next one); a
    window that reaches `size` closes with the batch in it. A batch is never split.
    """
    _check(size, seconds)
    counts = np.asarray(counts)
    if counts.shape != window.counts.shape:
        raise ValueError(f"counts: expected shape {window.counts.shape}, got {counts.shape}")
    if requests < 0:
        raise ValueError(f"requests: must be >= 0, got {requests}")
    window, closed = tick(window, now, seconds=seconds)
    merged = Window(window.counts + counts, window.requests + requests,
                    window.started if window.started is not None else (now if requests else None))
    if size is not None and merged.requests >= size:
        return Window(np.zeros_like(window.counts)), (*closed, merged)
    return merged, closed
