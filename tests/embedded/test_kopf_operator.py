"""A tiny kopf operator, defined here, runs against the embedded API over real HTTP."""
from __future__ import annotations

import asyncio
import logging

import kopf
import pytest

from mlops_operator.embedded import EmbeddedAPIServer

GROUP, VERSION, PLURAL = "mlops.dev", "v1alpha1", "mlprojects"


def _project(name: str, version: str = "v1") -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "MLProject", "metadata": {"name": name, "namespace": "default"},
            "spec": {"dataset": {"uri": "sklearn:iris", "version": version, "target": "target"},
                     "candidates": [{"name": "lr", "estimator": "LogisticRegression"}]}}


async def _eventually(check, timeout: float = 20.0):
    """Poll `check` until it returns a truthy value; fail with the last value on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(0.1)


@pytest.fixture
def kopf_errors():
    """Every ERROR-or-worse record that kopf logs during the test."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                records.append(record)

    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)


@pytest.mark.parametrize("scope", [{"namespaces": ["default"]}, {"clusterwide": True}], ids=["namespaced", "clusterwide"])
async def test_kopf_create_update_timer_delete_with_finalizer(api: EmbeddedAPIServer, kopf_errors, scope) -> None:
    registry = kopf.OperatorRegistry()
    seen: dict[str, list] = {"create": [], "update": [], "timer": [], "delete": []}

    @kopf.on.login(registry=registry)
    def login(**_):
        return kopf.ConnectionInfo(server=api.url, default_namespace="default")

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_):
        settings.watching.server_timeout = 10
        settings.watching.reconnect_backoff = 0.2
        settings.posting.level = logging.INFO

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def created(body, spec, patch, name, **_):
        seen["create"].append(name)
        kopf.info(body, reason="Accepted", message="project accepted")  # posted as a core/v1 Event
        patch.status["phase"] = "Pending"
        patch.status["lastDatasetVersion"] = spec["dataset"]["version"]

    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec.dataset.version", registry=registry)
    def updated(new, patch, **_):
        seen["update"].append(new)
        patch.status["lastDatasetVersion"] = new

    @kopf.timer(GROUP, VERSION, PLURAL, interval=0.3, registry=registry)
    def ticked(name, patch, **_):
        seen["timer"].append(name)
        patch.status["phase"] = "Ready"

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def deleted(name, **_):
        seen["delete"].append(name)

    stop = asyncio.Event()
    operator = asyncio.create_task(kopf.operator(registry=registry, standalone=True, stop_flag=stop, **scope))
    try:
        api.apply(_project("iris"))
        get = lambda: api.get(f"{GROUP}/{VERSION}", "MLProject", "iris")  # noqa: E731

        # The timer may tick before the creation handler: wait for both to have written their status.
        obj = await _eventually(lambda: (o := get()) and o.get("status", {}).get("phase") == "Ready"
                                and o["status"].get("lastDatasetVersion") == "v1" and o)
        assert seen["create"] == ["iris"]
        assert obj["status"]["lastDatasetVersion"] == "v1"
        assert obj["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]

        api.apply({**_project("iris", version="v2")})
        await _eventually(lambda: get()["status"].get("lastDatasetVersion") == "v2")
        assert seen["update"] == ["v2"]

        events = api.registry.get("", "v1", "events")
        await _eventually(lambda: [event for event in api.store.list(events, "default")
                                   if event["involvedObject"]["name"] == "iris" and event["reason"] == "Accepted"])

        held = api.delete(f"{GROUP}/{VERSION}", "MLProject", "iris")
        assert held is not None and held["metadata"].get("deletionTimestamp")
        await _eventually(lambda: get() is None)
        assert seen["delete"] == ["iris"]
        assert seen["timer"], "the timer never ran"
    finally:
        stop.set()
        await asyncio.wait_for(operator, timeout=20)
    assert not kopf_errors, [record.getMessage() for record in kopf_errors]
