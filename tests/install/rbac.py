"""RBAC as data: what the rendered install grants the operator's ServiceAccount, and whether a call is allowed.

Reusable by other tests (e.g. replaying the operator's recorded API calls):

    from install.rbac import allows, rendered_rules          # or tests.install.rbac
    rules = rendered_rules({"watchNamespaces": ["team-a"]}, namespace="team-a")
    assert allows(rules, "patch", "mlops.dev", "trainingruns", "status")
"""
from __future__ import annotations

from typing import Any, Iterable

from .paths import NAMESPACE, RELEASE
from .render import render_chart

Rule = dict[str, Any]


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values)
    return "*" in values or wanted in values


def allows(
    rules: list[Rule],
    verb: str,
    group: str,
    resource: str,
    subresource: str | None = None,
    name: str | None = None,
) -> bool:
    """Does any PolicyRule allow `verb` on group/resource[/subresource] (Kubernetes RBAC semantics)?

    `group` is "" for the core API. A rule with resourceNames only allows calls naming one of them.
    """
    target = f"{resource}/{subresource}" if subresource else resource
    for rule in rules:
        if not _matches(rule.get("apiGroups", []), group):
            continue
        if not _matches(rule.get("resources", []), target):
            continue
        if not _matches(rule.get("verbs", []), verb):
            continue
        names = rule.get("resourceNames") or []
        if names and name not in names:
            continue
        return True
    return False


def grants(rules: list[Rule]) -> set[tuple[str, str, str]]:
    """Rules flattened to (apiGroup, resource, verb) triples: equal sets mean equal permissions."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def _role_rules(objects: list[dict[str, Any]], kind: str, name: str, namespace: str | None) -> list[Rule]:
    for obj in objects:
        meta = obj.get("metadata", {})
        if obj.get("kind") == kind and meta.get("name") == name:
            if kind == "ClusterRole" or meta.get("namespace") == namespace:
                return list(obj.get("rules") or [])
    raise LookupError(f"binding refers to {kind} {name!r} which is not in the manifests")


def _binds(binding: dict[str, Any], sa_namespace: str, sa_name: str) -> bool:
    return any(
        s.get("kind") == "ServiceAccount" and s.get("name") == sa_name and s.get("namespace") == sa_namespace
        for s in binding.get("subjects") or []
    )


def effective_rules(
    objects: list[dict[str, Any]],
    *,
    service_account: tuple[str, str] = (NAMESPACE, RELEASE),
    namespace: str | None = None,
) -> list[Rule]:
    """Rules the ServiceAccount (namespace, name) gets from the manifests.

    namespace=None: only cluster-wide grants (ClusterRoleBindings); otherwise also the RoleBindings in it.
    """
    sa_namespace, sa_name = service_account
    rules: list[Rule] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in ("ClusterRoleBinding", "RoleBinding") or not _binds(obj, sa_namespace, sa_name):
            continue
        binding_namespace = obj["metadata"].get("namespace")
        if kind == "RoleBinding" and binding_namespace != namespace:
            continue
        ref = obj["roleRef"]
        rules.extend(_role_rules(objects, ref["kind"], ref["name"], binding_namespace))
    return rules


def rendered_rules(values: dict[str, Any] | None = None, namespace: str | None = None) -> list[Rule]:
    """Rules the chart (rendered with `values`) gives the operator, cluster-wide or in `namespace`."""
    objects = render_chart(values)
    return effective_rules(objects, namespace=namespace)


def all_rules(objects: list[dict[str, Any]]) -> list[Rule]:
    """Every rule of every Role and ClusterRole in the manifests."""
    return [rule for obj in objects if obj.get("kind") in ("Role", "ClusterRole") for rule in obj.get("rules") or []]
