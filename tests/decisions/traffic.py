"""Simulated labelled traffic for the sequential-decision simulations (tests and `bench.decisions`).

Vectorised over runs: per analysis interval each arm receives Poisson(rate · share) requests; each
request is correct with its arm's probability and its label arrives a geometric number of intervals
later (at most MAX_DELAY intervals; later ones never arrive), so each look sees only the labels
that have arrived.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Labels later than this many intervals are dropped (never labelled), to bound memory.
MAX_DELAY = 24


@dataclass(frozen=True)
class Labelled:
    """Cumulative labelled counts at each look, shape (runs, looks): n labelled and n correct."""

    n: np.ndarray
    ones: np.ndarray


def labelled(rng: np.random.Generator, *, runs: int, looks: int, requests: float, p: float,
             delay: float = 1.0) -> Labelled:
    """One arm: `requests` expected per interval, success probability `p`, mean label delay in intervals."""
    arrivals = rng.poisson(requests, size=(runs, looks))
    q = delay / (1 + delay)  # geometric on {0, 1, ...} with mean `delay`
    delays = min(looks, MAX_DELAY + 1)
    buckets = (1 - q) * q ** np.arange(delays)
    buckets = np.append(buckets, max(0.0, 1 - buckets.sum()))  # labels later than that: never
    split = rng.multinomial(arrivals, buckets)  # (runs, looks, delays + 1): arrivals of look j by delay d
    new = np.zeros((runs, looks), dtype=np.int64)
    for d in range(delays):
        new[:, d:] += split[:, : looks - d, d]
    ones = rng.binomial(new, p)
    return Labelled(np.cumsum(new, axis=1), np.cumsum(ones, axis=1))


def first(mask: np.ndarray) -> np.ndarray:
    """Index of the first True per row, or -1 when none."""
    hit = mask.any(axis=1)
    return np.where(hit, mask.argmax(axis=1), -1)
