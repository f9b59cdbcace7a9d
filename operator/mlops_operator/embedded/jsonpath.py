"""The small JSONPath subset printer columns use: `.a.b`, `.a[0]`, `.a[*].b`, `.a[?(@.k=="v")].b`."""
from __future__ import annotations

import re
from typing import Any

_TOKEN_RE = re.compile(r"""\.([A-Za-z0-9_\-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*["']([^"']*)["']\)\]|\['([^']+)'\]""")


class JSONPathError(ValueError):
    """The expression uses syntax outside the supported subset."""


def _tokens(expression: str) -> list[tuple[str, Any]]:
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if not match:
            raise JSONPathError(f"unsupported JSONPath {expression!r} at {text[position:]!r}")
        key, index, filter_key, filter_value, quoted = match.groups()
        if key is not None or quoted is not None:
            tokens.append(("key", key if key is not None else quoted))
        elif index is not None:
            tokens.append(("all", None) if index == "*" else ("index", int(index)))
        else:
            tokens.append(("filter", (filter_key, filter_value)))
        position = match.end()
    return tokens


def _dig(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def find(obj: Any, expression: str) -> list[Any]:
    """All values the expression selects (empty when the path is absent)."""
    nodes = [obj]
    for kind, arg in _tokens(expression):
        following: list[Any] = []
        for node in nodes:
            if kind == "key" and isinstance(node, dict) and arg in node:
                following.append(node[arg])
            elif kind == "index" and isinstance(node, list) and -len(node) <= arg < len(node):
                following.append(node[arg])
            elif kind == "all" and isinstance(node, list):
                following.extend(node)
            elif kind == "filter" and isinstance(node, list):
                following.extend(item for item in node if str(_dig(item, arg[0])) == arg[1])
        nodes = following
    return nodes
