"""The per-object reconcile loop: one turn at a time, woken by changes, ended by deletion.

The loop runs here against a fake status writer (the only I/O it does itself) and a reconcile
function that records when it runs; the kopf side (on.event -> observe) is driven by hand.
"""
from __future__ import annotations

import asyncio
import copy

import kopf
import pytest

from mlops_operator import kube
from mlops_operator.handlers import kopf_internals, loop


class Stopped:
    """Stands in for kopf's `stopped` flag of a daemon."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def wait(self) -> None:
        await self.event.wait()


class World:
    """An object as the watch delivers it, and a status subresource with resourceVersion checks."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.body = {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment",
                     "metadata": {"name": "m", "namespace": "ns", "uid": "u1", "generation": 1,
                                  "resourceVersion": "1"}, "spec": {"x": 1}, "status": {}}
        self.memo = kopf.Memo()
        self.writes: list[dict] = []
        self.exists = True
        monkeypatch.setattr(kube, "patch_status", self.patch_status)

    async def patch_status(self, api_version, plural, namespace, name, body):
        await asyncio.sleep(0)
        if not self.exists:
            return None
        if body["metadata"]["resourceVersion"] != self.body["metadata"]["resourceVersion"]:
            raise kube.Conflict("changed")
        self.writes.append(body["status"])
        new = copy.deepcopy(self.body)
        new["status"] = {**new["status"], **body["status"]}
        new["metadata"]["resourceVersion"] = str(int(new["metadata"]["resourceVersion"]) + 1)
        self.deliver("MODIFIED", new)
        return new

    def deliver(self, kind: str, body: dict) -> None:
        """What kopf does on a watch event: replace the live body, call the on.event handler."""
        self.body.clear()
        self.body.update(copy.deepcopy(body))
        loop.observe(kind, self.body, self.memo)

    def change_spec(self, value: int) -> None:
        new = copy.deepcopy(self.body)
        new["spec"]["x"] = value
        new["metadata"]["generation"] += 1
        new["metadata"]["resourceVersion"] = str(int(new["metadata"]["resourceVersion"]) + 1)
        self.deliver("MODIFIED", new)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    return World(monkeypatch)


def start(world: World, reconcile, interval: float = 5.0) -> tuple[asyncio.Task, Stopped]:
    loop.observe(None, world.body, world.memo)
    stopped = Stopped()
    daemon = {"body": world.body, "memo": world.memo, "stopped": stopped,
              "logger": __import__("logging").getLogger("test")}
    task = asyncio.ensure_future(loop.run(reconcile, daemon, kind="Test", plural="tests", interval=interval))
    return task, stopped


async def test_turns_never_overlap_and_each_sees_the_previous_write(world: World) -> None:
    running = 0
    seen_counts: list[int] = []

    async def reconcile(status, patch, spec, **_):
        nonlocal running
        running += 1
        assert running == 1, "two reconciles of one object at once"
        seen_counts.append(status.get("count", 0))
        await asyncio.sleep(0.01)
        patch.status["count"] = status.get("count", 0) + 1
        running -= 1

    task, stopped = start(world, reconcile, interval=0.01)
    for value in range(2, 12):  # changes arrive while turns run: they only wake the loop
        world.change_spec(value)
        await asyncio.sleep(0.003)
    await asyncio.sleep(0.2)
    stopped.event.set()
    await asyncio.wait_for(task, 1)
    # every write was decided from the state the previous write left: no two decisions from one state
    # (a turn overtaken by a spec change is redone, its write refused by the precondition)
    written = [w["count"] for w in world.writes]
    assert written == list(range(1, len(written) + 1)) and len(written) > 5
    assert set(seen_counts) == set(range(len(written)))


async def test_deletion_mid_turn_cancels_it_and_ends_the_loop(world: World) -> None:
    calls: list[str] = []
    entered = asyncio.Event()

    async def reconcile(patch, **_):
        calls.append("get")
        entered.set()
        await asyncio.sleep(10)  # e.g. waiting on the API
        calls.append("create child")  # must never happen after the deletion
        patch.status["x"] = 1

    task, _ = start(world, reconcile)
    await asyncio.wait_for(entered.wait(), 1)
    world.deliver("DELETED", world.body)
    await asyncio.wait_for(task, 1)
    assert calls == ["get"] and world.writes == []
    assert loop.RECONCILE_LOOPS.labels("Test")._value.get() == 0


async def test_a_deleted_object_gets_no_further_turn(world: World) -> None:
    turns = 0

    async def reconcile(patch, **_):
        nonlocal turns
        turns += 1
        patch.status["turn"] = turns

    task, _ = start(world, reconcile, interval=0.01)
    await asyncio.sleep(0.05)
    world.deliver("DELETED", world.body)
    await asyncio.wait_for(task, 1)
    after = turns
    await asyncio.sleep(0.05)
    assert turns == after and task.done()


async def test_deletion_timestamp_ends_the_loop_too(world: World) -> None:
    async def reconcile(**_):
        return None

    task, _ = start(world, reconcile, interval=0.01)
    await asyncio.sleep(0.02)
    terminating = copy.deepcopy(world.body)
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    world.deliver("MODIFIED", terminating)
    await asyncio.wait_for(task, 1)


async def test_a_missed_deletion_ends_the_loop_at_the_404(world: World) -> None:
    async def reconcile(patch, **_):
        patch.status["x"] = 1

    world.exists = False  # deleted, but the watch never said so
    task, _ = start(world, reconcile, interval=0.01)
    await asyncio.wait_for(task, 1)


async def test_a_conflict_redoes_the_turn_on_the_new_state(world: World) -> None:
    specs: list[int] = []

    async def reconcile(spec, patch, **_):
        specs.append(spec["x"])
        if len(specs) == 1:
            world.change_spec(7)  # a user edits the spec while the first turn runs
        patch.status["x"] = spec["x"]

    task, stopped = start(world, reconcile, interval=5)
    await asyncio.sleep(0.1)
    stopped.event.set()
    await asyncio.wait_for(task, 1)
    assert specs[:2] == [1, 7] and world.writes == [{"x": 7}]


async def test_failures_back_off_and_finished_objects_end(world: World) -> None:
    attempts = 0

    async def reconcile(patch, **_):
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("API down")
        patch.status["phase"] = "Blessed"
        return True

    task, _ = start(world, reconcile, interval=0.01)
    await asyncio.wait_for(task, 2)
    assert attempts == 3 and world.writes == [{"phase": "Blessed"}]


async def test_an_identical_status_is_not_written_again(world: World) -> None:
    turns = 0

    async def reconcile(patch, **_):
        nonlocal turns
        turns += 1
        patch.status["phase"] = "Invalid"  # the same answer every turn, as for an invalid spec
        patch.status["observedGeneration"] = 1

    task, stopped = start(world, reconcile, interval=0.01)
    await asyncio.sleep(0.2)
    stopped.event.set()
    await asyncio.wait_for(task, 1)
    assert turns > 5 and world.writes == [{"phase": "Invalid", "observedGeneration": 1}]


async def test_a_reconcile_that_keeps_failing_is_reported_in_the_ready_condition(world: World) -> None:
    async def reconcile(**_):
        raise RuntimeError("the pipeline backend is unreachable")

    task, stopped = start(world, reconcile, interval=0.005)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if world.writes:
            break
    stopped.event.set()
    await asyncio.wait_for(task, 1)
    (condition,) = world.writes[0]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Ready", "False", "ReconcileError")
    assert condition["message"].startswith(f"{loop.FAILURES_REPORTED} reconcile attempts failed in a row")


def test_backoff_grows_and_is_capped() -> None:
    assert loop.backoff(1, 10) <= 12 and loop.backoff(3, 10) >= 32
    assert loop.backoff(50, 10) <= loop.MAX_BACKOFF * 1.2


def test_kopf_internals_still_where_we_expect_them() -> None:
    """Fails loudly when a kopf upgrade moves the registry internals kopf_internals.py uses."""
    registry = kopf.OperatorRegistry()

    @kopf.daemon("mlops.dev", "v1alpha1", "things", registry=registry)
    async def daemon(**_) -> None:
        return None

    spawning = registry._spawning
    assert [h.requires_finalizer for h in spawning._handlers] == [True]
    assert kopf_internals.drop_spawning_finalizers(registry) == 1
    assert [h.requires_finalizer for h in spawning._handlers] == [False]

    @kopf.index("mlops.dev", "v1alpha1", "things", registry=registry)
    def plain(**_) -> dict:
        return {}

    assert {h.fn for h in kopf_internals.registered_handlers(registry)} == {daemon, plain}
    assert kopf_internals.change_handlers(registry) == []

    @kopf.on.update("mlops.dev", "v1alpha1", "things", registry=registry)
    async def changed(**_) -> None:
        return None

    assert [h.fn for h in kopf_internals.change_handlers(registry)] == [changed]


def test_every_handler_of_the_operator_is_a_coroutine() -> None:
    """kopf runs plain functions in its thread pool: a thread hop per watch event, and a loop's
    asyncio.Event set from a thread (handlers/indexes.py)."""
    import inspect

    import mlops_operator.handlers  # noqa: F401  (registers the handlers)

    handlers = [h for h in kopf_internals.registered_handlers() if h.fn.__module__.startswith("mlops_operator.")]
    assert len(handlers) >= 15  # kopf's own (its login fallback) are not ours
    plain = [h.id for h in handlers if not inspect.iscoroutinefunction(h.fn)]
    assert not plain, f"kopf would run these in threads: {plain}"


def test_no_change_handlers_so_kopf_keeps_no_diff_base() -> None:
    """kopf's "last handled configuration" is not built (handlers/config._NoDiffBase): only change handlers
    read it, and there must be none; a new one needs the diff base back."""
    import mlops_operator.handlers  # noqa: F401  (registers the handlers)

    assert kopf_internals.change_handlers() == []
    assert [h for h in kopf_internals.registered_handlers() if h.fn.__module__.startswith("mlops_operator.")]


async def test_another_objects_change_wakes_the_loop_at_once_and_not_after_it_ended(world: World) -> None:
    """What a SeldonDeployment's watch event does for its ModelDeployment (handlers/indexes.seldon_news)."""
    from mlops_operator.handlers.state import MEMO_KEY, OperatorState
    from mlops_operator.settings import Settings

    ours = OperatorState(settings=Settings(), monitor=None, metrics=None)  # type: ignore[arg-type]
    world.memo[MEMO_KEY] = ours
    turns: list[float] = []

    async def reconcile(**_):
        turns.append(asyncio.get_running_loop().time())

    task, stopped = start(world, reconcile, interval=3600)  # only a wake-up can bring a second turn
    await asyncio.sleep(0.05)
    assert len(turns) == 1 and ("tests", "ns", "m") in ours.loops
    loop.wake(world.memo, "tests", "ns", "m")
    await asyncio.sleep(0.05)
    assert len(turns) == 2
    loop.wake(world.memo, "tests", "ns", "other")  # no loop of that name: nothing happens
    world.deliver("DELETED", world.body)
    await asyncio.wait_for(task, 1)
    assert ("tests", "ns", "m") not in ours.loops
    loop.wake(world.memo, "tests", "ns", "m")  # after the end: no turn, no error
    await asyncio.sleep(0.05)
    assert len(turns) == 2
    stopped.event.set()


async def test_a_wake_up_never_runs_a_turn_on_state_older_than_our_own_write(world: World) -> None:
    """Woken by another object before its status write came back, the loop still waits for the write."""
    from mlops_operator.handlers.state import MEMO_KEY, OperatorState
    from mlops_operator.settings import Settings

    world.memo[MEMO_KEY] = OperatorState(settings=Settings(), monitor=None, metrics=None)  # type: ignore[arg-type]
    held: list[dict] = []
    deliver = world.deliver
    world.deliver = lambda kind, body: held.append(body)  # the watch is slow: our write has not come back yet
    seen: list[int] = []

    async def reconcile(status, patch, **_):
        seen.append(status.get("count", 0))
        patch.status["count"] = status.get("count", 0) + 1

    task, stopped = start(world, reconcile, interval=3600)
    await asyncio.sleep(0.05)
    assert seen == [0] and len(held) == 1
    loop.wake(world.memo, "tests", "ns", "m")  # ends the wait between turns; the loop now waits for its write
    await asyncio.sleep(0.05)
    loop.wake(world.memo, "tests", "ns", "m")  # another wake-up while it waits for the write
    await asyncio.sleep(0.05)
    assert seen == [0]  # no turn on the snapshot from before our own write
    world.deliver = deliver
    deliver("MODIFIED", held.pop())
    await asyncio.sleep(0.05)
    assert seen == [0, 1]  # the woken turn runs once the write is seen, and sees it
    stopped.event.set()
    await asyncio.wait_for(task, 1)


async def test_only_news_from_another_object_wakes_a_loop() -> None:
    """A SeldonDeployment wakes its ModelDeployment when Seldon reports a new status (not when the
    deployment created or patched it), a TrainingRun wakes its project when its phase changes."""
    from mlops_operator.handlers.indexes import run_news, seldon_news
    from mlops_operator.handlers.state import MEMO_KEY, OperatorState
    from mlops_operator.settings import Settings

    ours = OperatorState(settings=Settings(), monitor=None, metrics=None)  # type: ignore[arg-type]
    deployment, project = loop.Signals(), loop.Signals()
    ours.loops[("modeldeployments", "ns", "m")] = deployment
    ours.loops[("mlprojects", "ns", "p")] = project

    def woken(signals: loop.Signals) -> bool:
        was = signals.wake.is_set()
        signals.wake.clear()
        return was

    sdep_memo = kopf.Memo({MEMO_KEY: ours})  # kopf gives each object its own copy of the operator's memo
    for event_type, status, expected in [("ADDED", {}, False), ("MODIFIED", {}, False),
                                         ("MODIFIED", {"state": "Creating"}, True),
                                         ("MODIFIED", {"state": "Creating"}, False),
                                         ("MODIFIED", {"state": "Available"}, True), ("DELETED", {"state": "Available"}, True)]:
        seldon_news(event_type, "ns", "m", status, sdep_memo)
        assert woken(deployment) is expected, (event_type, status)

    run_memo = kopf.Memo({MEMO_KEY: ours})
    for event_type, phase, expected in [("ADDED", None, False), ("MODIFIED", "Running", True),
                                        ("MODIFIED", "Running", False), ("MODIFIED", "Blessed", True),
                                        ("DELETED", "Blessed", True)]:
        body = {"metadata": {"name": "p-v1", "namespace": "ns"}, "spec": {"projectRef": {"name": "p"}},
                "status": {"phase": phase} if phase else {}}
        run_news(event_type, body, "ns", run_memo)
        assert woken(project) is expected, (event_type, phase)
