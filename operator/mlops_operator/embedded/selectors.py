"""Label and field selectors as the API server understands them, for lists and watches."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Matcher = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*(\S*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)([^\s!=()]+)\s*$")


class SelectorError(ValueError):
    """A selector that does not parse; the message names the offending term."""


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses (`a in (x,y),b`)."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return [term for term in terms if term.strip()]


def _label_term(term: str) -> Matcher:
    if match := _SET_RE.match(term):
        negated, key, operator, values = match.groups()
        if negated:
            raise SelectorError(f"invalid label selector term {term!r}")
        allowed = {value.strip() for value in values.split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if match := _EQ_RE.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_RE.match(term):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(f"invalid label selector term {term!r}")


def label_matcher(selector: str | None) -> Matcher:
    """A predicate over a whole object that checks its metadata.labels against the selector."""
    if not selector:
        return lambda obj: True
    terms = [_label_term(term) for term in _split_terms(selector)]
    return lambda obj: all(term((obj.get("metadata") or {}).get("labels") or {}) for term in terms)


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def field_matcher(selector: str | None) -> Matcher:
    """Field selectors on any dotted path (metadata.name, metadata.namespace, status.phase, ...)."""
    if not selector:
        return lambda obj: True
    checks: list[Matcher] = []
    for term in _split_terms(selector):
        match = _EQ_RE.match(term)
        if not match:
            raise SelectorError(f"invalid field selector term {term!r}")
        path, operator, value = match.groups()
        if operator == "!=":
            checks.append(lambda obj, p=path, v=value: _field_value(obj, p) != v)
        else:
            checks.append(lambda obj, p=path, v=value: _field_value(obj, p) == v)
    return lambda obj: all(check(obj) for check in checks)
