"""The one place that reaches into kopf's internals (kopf is pinned to 1.45.x).

kopf puts a finalizer on every object that has a daemon or timer, so that it can stop them before
the object goes. Our reconcile loops (`loop.py`) end by themselves when the watch reports the object
deleted, and nothing has to be cleaned up (children are garbage-collected through owner
references); the rule is "finalizers only where cleanup is needed", and a finalizer would also block
`kubectl delete` while the operator is down. kopf has no public switch for this, so the registered
daemons are told here not to require one. kopf also lists its registered handlers only internally
(`registered_handlers`, for the test that every handler is a coroutine, and `change_handlers`).
`tests/api/test_reconcile_loop.py::test_kopf_internals_still_where_we_expect_them` fails loudly when a
kopf upgrade moves what this touches; an e2e test checks the objects carry no finalizer.
"""
from __future__ import annotations

import dataclasses

import kopf
from kopf._core.intents.handlers import DaemonHandler, TimerHandler


def drop_spawning_finalizers(registry: kopf.OperatorRegistry | None = None) -> int:
    """Clear `requires_finalizer` on registered daemons and timers; returns how many were changed."""
    spawning = (registry or kopf.get_default_registry())._spawning
    changed = 0
    for i, handler in enumerate(spawning._handlers):
        if isinstance(handler, (DaemonHandler, TimerHandler)) and handler.requires_finalizer:
            spawning._handlers[i] = dataclasses.replace(handler, requires_finalizer=False)
            changed += 1
    return changed


def registered_handlers(registry: kopf.OperatorRegistry | None = None) -> list:
    """Every handler in the registry: activities, indexes, watch events, daemons and timers, changes."""
    registry = registry or kopf.get_default_registry()
    parts = (registry._activities, registry._indexing, registry._watching, registry._spawning, registry._changing)
    return [handler for part in parts for handler in part.get_all_handlers()]


def change_handlers(registry: kopf.OperatorRegistry | None = None) -> list:
    """The on.create/update/resume/delete/field handlers (config._NoDiffBase holds that there are none)."""
    return list((registry or kopf.get_default_registry())._changing.get_all_handlers())
