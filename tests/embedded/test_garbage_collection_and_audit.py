"""Owner references are garbage-collected like on a cluster; calls are recorded in RBAC terms."""
from __future__ import annotations

import requests

from mlops_operator.embedded import ThreadedAPIServer


def cm(name: str, owners: list[dict] = (), finalizers: list[str] = ()) -> dict:
    meta = {"name": name, "namespace": "default", "ownerReferences": list(owners)}
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}}


def ref(obj: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}


def test_dependents_go_when_their_last_owner_goes():
    with ThreadedAPIServer() as api:
        a, b = api.apply(cm("a")), api.apply(cm("b"))
        only_a = api.apply(cm("only-a", [ref(a)]))
        both = api.apply(cm("both", [ref(a), ref(b)]))
        held = api.apply(cm("held", [ref(a)], finalizers=["example.com/keep"]))
        grandchild = api.apply(cm("grandchild", [ref(only_a)]))
        api.delete("v1", "ConfigMap", "a", "default")
        assert api.get("v1", "ConfigMap", "only-a", "default") is None
        assert api.get("v1", "ConfigMap", "grandchild", "default") is None
        assert api.get("v1", "ConfigMap", "both", "default") is not None
        assert api.get("v1", "ConfigMap", "held", "default")["metadata"]["deletionTimestamp"]
        api.delete("v1", "ConfigMap", "b", "default")
        assert api.get("v1", "ConfigMap", "both", "default") is None
        assert grandchild and both and held


def test_calls_are_recorded_per_user_agent_in_rbac_terms():
    with ThreadedAPIServer() as api:
        base = f"{api.url}/api/v1/namespaces/default/configmaps"
        headers = {"User-Agent": "auditor/1"}
        requests.post(base, json=cm("x"), headers=headers, timeout=10)
        requests.get(base, headers=headers, timeout=10)
        requests.patch(f"{base}/x", json={"data": {"k": "v"}}, timeout=10,
                       headers={**headers, "Content-Type": "application/merge-patch+json"})
        calls = {(c.verb, c.group, c.resource) for c in api.emulator.calls if c.user_agent == "auditor/1"}
        assert calls == {("create", "", "configmaps"), ("list", "", "configmaps"), ("patch", "", "configmaps")}
        assert api.emulator.request_count >= 3


def test_an_object_created_for_an_owner_that_does_not_exist_is_collected():
    """A real garbage collector deletes dependents whose owners are absent (e.g. created after the owner went)."""
    with ThreadedAPIServer() as api:
        owner = api.apply(cm("owner"))
        live_child = api.apply(cm("live-child", [ref(owner)]))
        ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone", "uid": "0000-not-there"}
        resp = requests.post(f"{api.url}/api/v1/namespaces/default/configmaps", json=cm("orphan", [ghost]),
                             timeout=10)
        assert resp.status_code == 201  # accepted, as the API server does; the collector removes it
        assert api.get("v1", "ConfigMap", "orphan", "default") is None
        assert api.get("v1", "ConfigMap", "live-child", "default") is not None and live_child
        # an owner of that name that is another object (deleted and created again) is not the owner
        stale = {**ref(owner), "uid": "0000-an-earlier-owner"}
        requests.post(f"{api.url}/api/v1/namespaces/default/configmaps", json=cm("stale-child", [stale]), timeout=10)
        assert api.get("v1", "ConfigMap", "stale-child", "default") is None


def test_calls_are_kept_in_a_timeline_with_the_object_name():
    with ThreadedAPIServer() as api:
        base = f"{api.url}/api/v1/namespaces/default/configmaps"
        headers = {"User-Agent": "auditor/2"}
        requests.post(base, json=cm("t"), headers=headers, timeout=10)
        requests.get(f"{base}/t", headers=headers, timeout=10)
        mine = [(c.method, c.plural, c.name) for c in api.emulator.timeline if c.user_agent == "auditor/2"]
        assert mine == [("POST", "configmaps", "t"), ("GET", "configmaps", "t")]
        times = [c.time for c in api.emulator.timeline if c.user_agent == "auditor/2"]
        assert times == sorted(times)
