"""The embedded API's cheap paths keep its semantics: events encoded once and sent only to their
resource's watchers, bodies decoded once, copies made once, CEL outcomes memoised."""
from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import aiohttp
import pytest

from mlops_operator.embedded import EmbeddedAPIServer
from mlops_operator.embedded.cel_rules import RuleError, _evaluate_rule, evaluate_rule
from mlops_operator.embedded.resources import Registry
from mlops_operator.embedded.store import ObjectStore

MLP = "/apis/mlops.dev/v1alpha1/namespaces/default/mlprojects"
CM = "/api/v1/namespaces/default/configmaps"


def project(name: str) -> dict[str, Any]:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": name},
            "spec": {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target"},
                     "candidates": [{"name": "lr", "estimator": "LogisticRegression"}]}}


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}


async def _listening(api: EmbeddedAPIServer, count: int = 1) -> None:
    while api.store.watch_count < count:
        await asyncio.sleep(0.01)


async def test_a_watch_gets_only_its_resource_and_the_bytes_the_write_answered(api: EmbeddedAPIServer) -> None:
    async with aiohttp.ClientSession(api.url) as http:
        async with http.get(MLP, params={"watch": "true", "resourceVersion": "0"}) as watch:
            await _listening(api)
            async with http.post(CM, json=configmap("unrelated")) as created:
                assert created.status == 201
            async with http.post(MLP, json=project("p")) as created:
                assert created.status == 201
                answered = await created.read()
            line = await asyncio.wait_for(watch.content.readline(), 10)
    assert line == b'{"type":"ADDED","object":' + answered + b"}\n"
    assert json.loads(answered)["metadata"]["name"] == "p"


def test_the_store_wakes_only_the_watchers_of_a_change() -> None:
    store = ObjectStore(Registry.with_builtins())
    namespaces, configmaps = store.subscribe(("", "namespaces")), store.subscribe(("", "configmaps"))
    everything = store.subscribe()
    namespaces_type = Registry.with_builtins().get("", "v1", "namespaces")
    assert namespaces_type is not None
    store.create(namespaces_type, None, {"metadata": {"name": "default"}})
    assert (namespaces.qsize(), configmaps.qsize(), everything.qsize()) == (1, 0, 1)
    assert store.watch_count == 3
    store.unsubscribe(namespaces)
    assert store.watch_count == 2
    event = everything.get_nowait()
    expected = json.dumps({"type": "ADDED", "object": event.obj}, separators=(",", ":")).encode() + b"\n"
    assert event.line("ADDED", "v1") == expected


async def test_events_queued_together_arrive_all_in_order(api: EmbeddedAPIServer) -> None:
    async with aiohttp.ClientSession(api.url) as http:
        async with http.get(CM, params={"watch": "true", "resourceVersion": "0"}) as watch:
            await _listening(api)
            for number in range(30):  # no await in between: the stream finds them all queued at once
                api.apply({**configmap(f"c{number}"), "data": {"n": str(number)}})
            names = []
            while len(names) < 30:
                line = await asyncio.wait_for(watch.content.readline(), 10)
                names.append(json.loads(line)["object"]["metadata"]["name"])
    assert names == [f"c{number}" for number in range(30)]


async def test_writes_share_no_structure_with_the_stored_object_or_the_body(api: EmbeddedAPIServer) -> None:
    api.apply(project("p"))
    mlp = api.resource_for(project("p"))
    old = api.store.get(mlp, "default", "p")
    before = copy.deepcopy(old)
    ready = {"type": "Ready", "status": "False", "reason": "Training", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    patch = {"status": {"phase": "Training", "conditions": [ready]}}
    new, _ = api.store.patch(mlp, "default", "p", "merge", patch, subresource="status")
    patch["status"]["conditions"].append({"type": "Changed"})
    ready["status"] = "True"
    assert old == before
    assert new["spec"] == old["spec"] and new["spec"] is not old["spec"]
    assert new["metadata"] is not old["metadata"]
    assert [(c["type"], c["status"]) for c in new["status"]["conditions"]] == [("Ready", "False")]

    body = copy.deepcopy(new)
    body["spec"]["dataset"]["version"] = "v2"
    replaced = api.store.replace(mlp, "default", "p", body)
    body["spec"]["dataset"]["version"] = "v3"
    assert replaced["spec"]["dataset"]["version"] == "v2" and replaced["metadata"]["generation"] == 2
    assert replaced["status"] == new["status"] and replaced["status"] is not new["status"]


async def test_bodies_are_decoded_once_but_as_their_content_type_says(api: EmbeddedAPIServer) -> None:
    async with aiohttp.ClientSession(api.url) as http:
        replacement = {**configmap("replaced"), "data": {"text": "a \ufffd in valid UTF-8"}}
        async with http.post(CM, data=json.dumps(replacement, ensure_ascii=False).encode(),
                             headers={"Content-Type": "application/json"}) as created:
            assert created.status == 201
        # JSON text sent as server-side apply YAML reads as YAML 1.1 does: 1e3 is a string there
        async with http.patch(f"{CM}/applied", params={"fieldManager": "test"},
                              data='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},'
                                   '"data":{"n":1e3}}',
                              headers={"Content-Type": "application/apply-patch+yaml"}) as applied:
            assert applied.status == 201
    assert api.get("v1", "ConfigMap", "replaced")["data"]["text"] == "a \ufffd in valid UTF-8"
    assert api.get("v1", "ConfigMap", "applied")["data"]["n"] == "1e3"


@pytest.mark.parametrize("rule, value", [
    ("self / 2 == 0", 1), ("self / 2 == 0", 1.0),  # integer and double division: 1 and 1.0 differ
    ("self.a.b == 1", {"a": {"b": 1}}), ("self.a.b == 1", {"a": {}}),  # no such key: a RuleError
    ("self.x", {"x": 3}),  # not a bool: a RuleError
    ("self.size() == 2", ["a", "b"]), ("self.isSorted()", [3, 1]),
    ("self > 0.0", float("nan")),  # not JSON: evaluated as it is
])
def test_memoised_rule_outcomes_are_those_of_evaluation(rule: str, value: Any) -> None:
    def outcome() -> Any:
        try:
            return evaluate_rule(rule, value)
        except RuleError as exc:
            return f"error: {exc}"

    try:
        expected: Any = _evaluate_rule(rule, value)
    except RuleError as exc:
        expected = f"error: {exc}"
    assert outcome() == expected
    assert outcome() == expected  # memoised now
