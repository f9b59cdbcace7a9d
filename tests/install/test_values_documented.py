"""Every leaf of values.yaml carries a comment (above it or on its line), so `helm show values` documents itself."""
from __future__ import annotations

import yaml

from .paths import CHART_DIR


def undocumented_leaves(text: str) -> list[str]:
    """Dotted paths of leaf values with no comment on the line above (or the same line)."""
    lines = text.splitlines()
    missing: list[str] = []

    def documented(key_node: yaml.Node) -> bool:
        row = key_node.start_mark.line
        if "#" in lines[row]:
            return True
        return row > 0 and lines[row - 1].strip().startswith("#")

    def walk(node: yaml.Node, path: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            here = f"{path}.{key.value}" if path else key.value
            is_leaf = not isinstance(value, yaml.MappingNode) or not value.value
            if is_leaf:
                if not documented(key):
                    missing.append(here)
            else:
                walk(value, here)

    walk(yaml.compose(text), "")
    return missing


def test_every_value_is_documented():
    text = (CHART_DIR / "values.yaml").read_text()
    assert undocumented_leaves(text) == []


def test_checker_finds_an_undocumented_value():
    text = "a:\n  # documented\n  b: 1\n  c: 2\n# documented\nd: []\ne: {}\n"
    assert undocumented_leaves(text) == ["a.c", "e"]


def test_values_cover_the_brief():
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for path in [
        "image.repository", "image.tag", "image.pullPolicy", "replicas", "peering.enabled", "peering.name",
        "resources", "watchNamespaces", "training.backend", "training.kfp.endpoint", "training.kfp.namespace",
        "training.kfp.experiment", "metrics.provider", "metrics.prometheusUrl", "components.image",
        "operator.logLevel", "operator.logFormat", "operator.module", "metrics.service.enabled",
        "metrics.serviceMonitor.enabled", "metrics.prometheusRule.enabled", "metrics.grafanaDashboard.enabled",
        "podSecurityContext", "nodeSelector", "tolerations", "affinity", "extraEnv",
        "admissionPolicy.enabled", "admissionPolicy.approvers.users",
    ]:
        node = values
        for part in path.split("."):
            assert part in node, f"values.yaml lacks {path}"
            node = node[part]
