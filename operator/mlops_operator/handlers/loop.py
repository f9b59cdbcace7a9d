"""One reconcile loop per object, run as a kopf daemon; watch events only wake it.

Why this design (and not kopf timers plus change handlers, as before):
- **One reconcile at a time per object**, by construction: only the loop reconciles. A change to
  spec or annotations wakes it; it never runs beside another reconcile of the same object, so two
  decisions (two KFP submissions, two rollout steps) can never be made from one state.
- **Nothing happens for a deleted object.** kopf stops timers and daemons only when deletion is
  blocked by its finalizer, and we want no finalizer where no cleanup is needed (children go with
  their owner through garbage collection, and a finalizer would block `kubectl delete` while the
  operator is down). So the loop ends itself: the watch's DELETED event (or a deletionTimestamp)
  cancels a turn in progress and returns, and a 404 on the status write does the same should the
  event be missed. No call is made and no task is left behind after that.
- **Fresh state for every decision.** Each turn reads a snapshot of the object as the watch last
  delivered it; the status write carries that resourceVersion as a precondition (409 when anything
  changed meanwhile, and the turn is redone on the new state), and the next turn waits until our own
  write has come back through the watch.
- kopf still pauses daemons when a peer operator takes over and stops them on shutdown.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import kopf

from .. import kube
from ..decisions.mergepatch import merge_apply
from ..telemetry import HANDLER_ERRORS, RECONCILE_LOOPS
from .state import MEMO_KEY
from .status import ready

#: A reconcile turn: kopf-style keyword arguments in, True when the object needs no more turns.
Reconcile = Callable[..., Awaitable[bool | None]]

MAX_BACKOFF = 300.0
FAILURES_REPORTED = 3  # failed turns in a row before the Ready condition says so


class Flag:
    """One kind of news for a loop, set through `Signals.notify` and cleared by the loop. A plain flag: the
    loop awaits only `Signals.attention` (an asyncio.Event holds a deque of waiters; five Events per loop
    were 6 MB at 3,000 loops, issue 8)."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        self._set = False


@dataclass
class Signals:
    """What the watch tells an object's loop; kept in the object's kopf memo."""
    wake: Flag = field(default_factory=Flag)      # spec or annotations changed
    changed: Flag = field(default_factory=Flag)   # any watch event
    gone: Flag = field(default_factory=Flag)      # deleted (or being deleted)
    stop: Flag = field(default_factory=Flag)      # kopf stops the loop (operator shutdown)
    #: Set with each of the above: the one thing a loop awaits (waiting on several events took a task per
    #: event per wait, made and cancelled on every turn: py-spy, issue 8). One waiter at a time.
    attention: asyncio.Event = field(default_factory=asyncio.Event)
    seen: tuple | None = None

    def notify(self, flag: Flag) -> None:
        flag._set = True
        self.attention.set()

    async def first(self, *flags: Flag, timeout: float | None) -> None:
        """Until one of `flags` is set, or `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while not any(f.is_set() for f in flags):
                    self.attention.clear()  # nothing awaits between this and the check above: no news is lost
                    await self.attention.wait()
        except TimeoutError:
            pass


def signals(memo: Any) -> Signals:
    return memo.setdefault("reconcile_signals", Signals())


def observe(event_type: str | None, body: Any, memo: Any) -> None:
    """Called for every watch event of the object (a kopf on.event handler): wake, or end, the loop."""
    s = signals(memo)
    meta = body.get("metadata") or {}
    if event_type == "DELETED" or meta.get("deletionTimestamp"):
        s.notify(s.gone)
        return
    seen = (meta.get("generation"), tuple(sorted((meta.get("annotations") or {}).items())))
    if seen != s.seen:
        s.seen = seen
        s.notify(s.wake)
    s.notify(s.changed)


def _registry(memo: Any) -> dict | None:
    """The operator-wide table of running loops (None when the operator's state is not in the memo)."""
    ours = memo.get(MEMO_KEY) if hasattr(memo, "get") else None
    return ours.loops if ours is not None else None


def wake(memo: Any, plural: str, namespace: str | None, name: str) -> None:
    """Make the loop of another object take a turn now (no-op when it has none)."""
    registry = _registry(memo)
    s = registry.get((plural, namespace or "", name)) if registry is not None else None
    if s is not None:
        s.notify(s.wake)  # not `changed`: that says the object itself changed, which a turn waits for after its write


def backoff(failures: int, interval: float) -> float:
    """Seconds before retrying a turn that raised: doubling from the interval, capped, with jitter."""
    return min(MAX_BACKOFF, interval * 2 ** min(failures - 1, 10)) * random.uniform(0.8, 1.2)


async def run(reconcile: Reconcile, daemon: dict[str, Any], *, kind: str, plural: str, interval: float) -> None:
    """Reconcile the daemon's `body` every `interval` seconds and on every change, until deleted or stopped.

    `daemon` holds the daemon's kopf arguments (one dict, not unpacked again: one copy per loop is 3 MB at
    3,000 loops); the kopf indexes among them reach `reconcile`, and so does `memo` (the operator's state
    is in it, see `state.py`)."""
    body, memo, stopped, logger = daemon["body"], daemon["memo"], daemon["stopped"], daemon["logger"]
    s = signals(memo)
    indexes = {key: value for key, value in daemon.items() if isinstance(value, kopf.Index)}
    stop = s.stop
    stop.clear()  # a loop started again for the same object starts unstopped
    stop_waiter = asyncio.ensure_future(_set_when(stopped, s))
    based_on: str | None = None  # resourceVersion our last status write started from
    failures = 0
    RECONCILE_LOOPS.labels(kind).inc()
    registry = _registry(memo)
    key = (plural, body["metadata"].get("namespace") or "", body["metadata"]["name"])
    if registry is not None:
        registry[key] = s
    try:
        while not stop.is_set() and not s.gone.is_set():
            # Wait until our last write came back through the watch, so this turn sees it.
            while body["metadata"].get("resourceVersion") == based_on and not (stop.is_set() or s.gone.is_set()):
                s.changed.clear()
                await s.first(s.changed, stop, s.gone, timeout=interval)
                if body["metadata"].get("resourceVersion") == based_on:
                    based_on = None  # not seen in a whole interval: the precondition guards the write
            if stop.is_set() or s.gone.is_set():
                break
            s.wake.clear()
            snapshot = copy.deepcopy(dict(body))
            outcome, written_rv = await _turn(reconcile, snapshot, plural, s, logger, {**indexes, "memo": memo},
                                              first_failure=not failures)
            if outcome == "gone":
                return
            delay = interval
            if outcome == "failed":
                failures += 1
                HANDLER_ERRORS.labels(snapshot["metadata"].get("namespace") or "", kind).inc()
                delay = backoff(failures, interval)
                if failures == FAILURES_REPORTED:
                    await _report_failing(snapshot, plural, failures, delay, logger)
            else:
                failures = 0
                if outcome == "finished":
                    return
                if outcome == "written" and written_rv != snapshot["metadata"].get("resourceVersion"):
                    based_on = snapshot["metadata"].get("resourceVersion")
                if outcome == "conflict":
                    based_on, delay = snapshot["metadata"].get("resourceVersion"), 0
            del snapshot  # not kept while idle: a copy of every object's body per loop
            await s.first(s.wake, stop, s.gone, timeout=delay)
    finally:
        RECONCILE_LOOPS.labels(kind).dec()
        stop_waiter.cancel()
        if registry is not None and registry.get(key) is s:
            del registry[key]


async def _report_failing(body: dict, plural: str, failures: int, delay: float, logger: Any) -> None:
    """Say in the Ready condition that turns keep failing, rather than let an old status look healthy."""
    status, meta = body.get("status") or {}, body["metadata"]
    message = f"{failures} reconcile attempts failed in a row; retrying in {delay:.0f}s; see the operator log"
    conditions = ready(status, False, "ReconcileError", message, status.get("observedGeneration"))
    try:
        await kube.patch_status(body["apiVersion"], plural, meta.get("namespace"), meta["name"],
                                {"metadata": {"resourceVersion": meta["resourceVersion"]},
                                 "status": {"conditions": conditions}})
    except Exception as e:  # best effort: the next failure streak says it again
        logger.warning("could not report the failing reconcile: %s: %s", type(e).__name__, e)


async def _set_when(stopped: Any, s: Signals) -> None:
    await stopped.wait()
    s.notify(s.stop)


async def _turn(reconcile: Reconcile, body: dict, plural: str, s: Signals, logger: Any,
                extra: dict[str, Any], first_failure: bool = True) -> tuple[str, str | None]:
    """One reconcile and its status write: the outcome ('written', 'unchanged', 'conflict', 'finished',
    'failed' or 'gone') and the resourceVersion the write produced."""
    meta = body["metadata"]
    patch = kopf.Patch()
    work = asyncio.ensure_future(reconcile(
        name=meta["name"], namespace=meta.get("namespace"), body=body, spec=body.get("spec") or {},
        status=body.get("status") or {}, meta=meta, patch=patch, logger=logger, **extra))
    gone = asyncio.ensure_future(s.first(s.gone, timeout=None))  # the loop's one waiter while the turn runs
    try:
        await asyncio.wait([work, gone], return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not work.done():  # deleted mid-turn: stop before the next call
        work.cancel()
        with contextlib.suppress(BaseException):
            await work
        return "gone", None
    try:
        finished = work.result()
    except Exception as e:
        # the traceback once per streak of failures: an API outage must not flood the log
        logger.warning("reconcile failed, will retry: %s: %s", type(e).__name__, e, exc_info=first_failure)
        return "failed", None
    if s.gone.is_set():
        return "gone", None
    outcome = "finished" if finished else "unchanged"
    current = body.get("status") or {}
    if patch.get("status") and merge_apply(current, patch["status"]) != current:  # no identical rewrites
        try:
            written = await kube.patch_status(body["apiVersion"], plural, meta.get("namespace"), meta["name"],
                                              {"metadata": {"resourceVersion": meta["resourceVersion"]},
                                               "status": patch["status"]})
        except kube.Conflict:
            return "conflict", None
        except Exception as e:
            logger.warning("writing status failed, will retry: %s: %s", type(e).__name__, e)
            return "failed", None
        if written is None:
            return "gone", None
        return (outcome if finished else "written"), written["metadata"].get("resourceVersion")
    return outcome, None
