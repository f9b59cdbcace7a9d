"""Pure pieces of the embedded API: patches, selectors, JSONPath, ages, CEL, schemas, routing, store bounds."""
from __future__ import annotations

import pytest

from mlops_operator.embedded import errors
from mlops_operator.embedded.cel_rules import RuleError, evaluate_rule
from mlops_operator.embedded.jsonpath import find
from mlops_operator.embedded.patches import PatchError, json_patch, merge_patch
from mlops_operator.embedded.resources import Registry
from mlops_operator.embedded.routing import parse
from mlops_operator.embedded.schema import check_object
from mlops_operator.embedded.selectors import SelectorError, field_matcher, label_matcher
from mlops_operator.embedded.store import ObjectStore
from mlops_operator.embedded.tables import human_duration


def test_merge_patch_deletes_nulls_and_never_mutates() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    result = merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3]})
    assert result == {"a": {"c": 2, "d": 3}, "l": [3]}
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2]}


def test_json_patch_operations() -> None:
    doc = {"metadata": {"finalizers": ["a", "b"]}, "spec": {"x": 1}}
    result = json_patch(doc, [
        {"op": "test", "path": "/spec/x", "value": 1},
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "add", "path": "/metadata/finalizers/-", "value": "c"},
        {"op": "copy", "from": "/spec/x", "path": "/spec/y"},
        {"op": "move", "from": "/spec/x", "path": "/spec/z"},
        {"op": "replace", "path": "/spec/y", "value": 5},
        {"op": "add", "path": "/metadata/labels", "value": {"a/b": "c"}},
        {"op": "remove", "path": "/metadata/labels/a~1b"},
    ])
    assert result == {"metadata": {"finalizers": ["b", "c"], "labels": {}}, "spec": {"y": 5, "z": 1}}
    assert doc["metadata"]["finalizers"] == ["a", "b"]
    with pytest.raises(PatchError) as failed:
        json_patch(doc, [{"op": "test", "path": "/spec/x", "value": 2}])
    assert failed.value.test_failed
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "remove", "path": "/spec/missing"}])


def test_label_selectors() -> None:
    obj = {"metadata": {"labels": {"app": "web", "tier": "gold"}}}
    assert label_matcher("app=web,tier")(obj)
    assert label_matcher("app==web,!missing")(obj)
    assert label_matcher("tier in (gold, silver),app notin (db)")(obj)
    assert not label_matcher("app!=web")(obj)
    assert not label_matcher("tier notin (gold)")(obj)
    assert label_matcher("")(obj)
    with pytest.raises(SelectorError):
        label_matcher("a b c")


def test_field_selectors() -> None:
    obj = {"metadata": {"name": "x", "namespace": "ns"}, "status": {"phase": "Ready"}}
    assert field_matcher("metadata.name=x,metadata.namespace=ns")(obj)
    assert field_matcher("status.phase!=Failed")(obj)
    assert not field_matcher("metadata.name==y")(obj)


def test_jsonpath_subset() -> None:
    obj = {"status": {"phase": "Ready", "conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]},
           "spec": {"steps": [1, 2]}}
    assert find(obj, ".status.phase") == ["Ready"]
    assert find(obj, "{.spec.steps[1]}") == [2]
    assert find(obj, ".spec.steps[*]") == [1, 2]
    assert find(obj, '.status.conditions[?(@.type=="Ready")].status') == ["True"]
    assert find(obj, ".status.missing") == []


@pytest.mark.parametrize("seconds, shown", [(5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (4 * 3600 + 60, "4h1m"),
                                            (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"),
                                            (3 * 365 * 86400, "3y")])
def test_ages_render_like_kubectl(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_cel_rules_with_kubernetes_list_functions() -> None:
    assert evaluate_rule("self.steps.isSorted()", {"steps": [1, 5, 9]})
    assert not evaluate_rule("self.steps.isSorted()", {"steps": [5, 1]})
    assert evaluate_rule("self.steps.filter(s, s > 2).size() == 1", {"steps": [1, 5]})
    assert evaluate_rule("self.items.all(c, self.items.exists_one(d, d == c))", {"items": ["a", "b"]})
    with pytest.raises(RuleError, match="no such key"):
        evaluate_rule("self.steps.all(s, s > 0)", {})


def test_schema_prunes_defaults_and_checks_types() -> None:
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "size": {"type": "integer", "default": 3},
            "port": {"x-kubernetes-int-or-string": True},
            "note": {"type": "string", "nullable": True},
            "gone": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "ratio": {"type": "number", "minimum": 0, "maximum": 1, "exclusiveMaximum": True},
        }}}}
    result = check_object(schema, {"metadata": {"name": "x"}, "spec": {
        "port": "http", "note": None, "gone": None, "labels": {"a": "b"}, "free": {"any": [1]}, "extra": 1, "ratio": 0.5}})
    assert result.causes == []
    assert result.unknown_fields == ["spec.extra"]
    assert result.obj["spec"] == {"size": 3, "port": "http", "note": None, "labels": {"a": "b"}, "free": {"any": [1]},
                                  "ratio": 0.5}
    bad = check_object(schema, {"spec": {"labels": {"a": 1}, "ratio": 1, "size": True}})
    assert {cause["field"] for cause in bad.causes} == {"spec.labels.a", "spec.ratio", "spec.size"}


def test_routing_of_namespace_paths() -> None:
    assert parse("/api/v1/namespaces").resource.plural == "namespaces"
    named = parse("/api/v1/namespaces/default").resource
    assert (named.plural, named.name, named.namespace) == ("namespaces", "default", None)
    status = parse("/api/v1/namespaces/x/status").resource
    assert (status.plural, status.name, status.subresource) == ("namespaces", "x", "status")
    scoped = parse("/apis/mlops.dev/v1alpha1/namespaces/d/mlprojects/p/status").resource
    assert (scoped.namespace, scoped.plural, scoped.name, scoped.subresource) == ("d", "mlprojects", "p", "status")
    assert parse("/openapi/v3/apis/mlops.dev/v1alpha1").kind == "openapi"
    assert parse("/nothing/here") is None


def test_store_keeps_a_bounded_event_log() -> None:
    registry = Registry.with_builtins()
    store = ObjectStore(registry, history=10)
    namespaces = registry.get("", "v1", "namespaces")
    configmaps = registry.get("", "v1", "configmaps")
    store.create(namespaces, None, {"metadata": {"name": "default"}})
    for number in range(100):
        store.create(configmaps, "default", {"metadata": {"name": f"c{number}"}})
    assert len(store._log) == 10 and store.resource_version == "101"
    assert [event.rv for event in store.events_since(95)] == [96, 97, 98, 99, 100, 101]
    with pytest.raises(errors.ApiError) as gone:
        store.events_since(3)
    assert gone.value.code == 410


def test_schema_message_expressions_and_embedded_resources() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "replicas": {"type": "integer"},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
    }, "x-kubernetes-validations": [{"rule": "self.replicas < 5",
                                      "messageExpression": "'replicas is ' + string(self.replicas) + ', limit 4'"}]}}}
    result = check_object(schema, {"spec": {"replicas": 7, "template": {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}}})
    assert [cause["message"] for cause in result.causes] == ['Invalid value: "object": replicas is 7, limit 4']
    assert result.obj["spec"]["template"]["kind"] == "Pod" and result.unknown_fields == []
