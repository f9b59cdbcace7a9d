"""Periodic reconciliation without finalizers.

kopf puts a finalizer on every object that has a timer, so that spawned daemons can be stopped
before the object goes. Our timers only re-run the same reconcile function; nothing has to happen
when an object is deleted (children are garbage-collected through owner references), and the rule
is "finalizers only where cleanup is needed": a finalizer would also block `kubectl delete` while
the operator is down. So the timers are registered the normal kopf way and then told not to
require a finalizer. kopf is pinned to 1.45.x; a test checks the objects carry no finalizer.
"""
from __future__ import annotations

import dataclasses

import kopf
from kopf._core.intents.handlers import TimerHandler  # no public switch for this in kopf 1.45


def drop_timer_finalizers(registry: kopf.OperatorRegistry | None = None) -> int:
    """Clear `requires_finalizer` on registered timers; returns how many were changed."""
    spawning = (registry or kopf.get_default_registry())._spawning
    changed = 0
    for i, handler in enumerate(spawning._handlers):
        if isinstance(handler, TimerHandler) and handler.requires_finalizer:
            spawning._handlers[i] = dataclasses.replace(handler, requires_finalizer=False)
            changed += 1
    return changed
