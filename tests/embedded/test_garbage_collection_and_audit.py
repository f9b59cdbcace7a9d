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
