"""Fault injection for the embedded API: the failures a real API server and network produce.

A `FaultPolicy` makes a share of the calls of chosen clients (by User-Agent prefix) fail the way
kube-apiserver does under load or during upgrades: 500/503, 429 with Retry-After, slow answers,
answers slower than the client's timeout, 409 conflicts on writes, watch streams cut short, and
410 Gone when a watch resumes from a resourceVersion. Seeded, so a failing run can be replayed.
"""
from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from . import errors

KINDS = ("error500", "unavailable", "throttled", "slow", "timeout", "conflict")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class FaultPolicy:
    """`rate` of the calls of clients whose User-Agent starts with one of `clients` fail."""

    rate: float = 0.1
    clients: tuple[str, ...] = ("",)
    kinds: tuple[str, ...] = KINDS
    slow_seconds: float = 1.0
    timeout_seconds: float = 10.0  # how long a "timeout" call hangs: set it above the client's timeout
    watch_cut_seconds: tuple[float, float] = (0.5, 5.0)  # a faulted watch ends after a time in this range
    seed: int | None = None
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate: {self.rate} is not within 0..1")
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"kinds: unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        self._random = random.Random(self.seed)

    def _hit(self, user_agent: str) -> bool:
        return user_agent.startswith(self.clients) and self._random.random() < self.rate

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    async def before_call(self, method: str, user_agent: str) -> None:
        """Raise (or delay) as the API server would for a faulted non-watch call."""
        if not self._hit(user_agent):
            return
        kinds = [k for k in self.kinds if k != "conflict" or method in WRITES]
        kind = self._random.choice(kinds)
        self._count(kind)
        if kind == "error500":
            raise errors.ApiError(500, "InternalError", "injected fault: etcdserver: request timed out")
        if kind == "unavailable":
            raise errors.ApiError(503, "ServiceUnavailable", "injected fault: the server is currently unavailable")
        if kind == "throttled":
            raise errors.ApiError(429, "TooManyRequests", "injected fault: too many requests",
                                  headers={"Retry-After": "1"})
        if kind == "conflict":
            raise errors.ApiError(409, "Conflict", "injected fault: the object has been modified; "
                                                   "please apply your changes to the latest version and try again")
        await asyncio.sleep(self.slow_seconds if kind == "slow" else self.timeout_seconds)

    def watch_fault(self, user_agent: str, resuming: bool) -> tuple[str, float] | None:
        """For a watch: ('gone', 0) to answer 410 on a resume, ('cut', seconds) to end it early, or None."""
        if not self._hit(user_agent):
            return None
        if resuming and self._random.random() < 0.5:
            self._count("watch-gone")
            return "gone", 0.0
        self._count("watch-cut")
        return "cut", self._random.uniform(*self.watch_cut_seconds)
