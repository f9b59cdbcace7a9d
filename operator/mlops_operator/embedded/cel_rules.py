"""CEL rules of `x-kubernetes-validations`, with the Kubernetes list functions the cel library lacks.

The `cel` package (Rust core) implements the CEL macros (`has`, `all`, `exists_one`, `filter`, `size`)
but not the Kubernetes list library; we register `isSorted`, `sum`, `min`, `max`, `indexOf` and
`lastIndexOf` as plain functions, which CEL also calls with method syntax (`self.steps.isSorted()`).
"""
from __future__ import annotations

import functools
from typing import Any

import cel


def _is_sorted(values: Any) -> bool:
    items = list(values)
    return all(a <= b for a, b in zip(items, items[1:]))


def _sum(values: Any) -> Any:
    return sum(values)


def _min(values: Any) -> Any:
    return min(values)


def _max(values: Any) -> Any:
    return max(values)


def _index_of(values: Any, item: Any) -> int:
    items = list(values)
    return items.index(item) if item in items else -1


def _last_index_of(values: Any, item: Any) -> int:
    items = list(values)
    return len(items) - 1 - items[::-1].index(item) if item in items else -1


KUBERNETES_LIST_FUNCTIONS = {
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
}


class RuleError(Exception):
    """The rule could not be evaluated (e.g. `no such key`): Kubernetes reports it as invalid too."""


@functools.lru_cache(maxsize=512)
def _compile(rule: str) -> Any:
    return cel.compile(rule)


def evaluate_expression(expression: str, value: Any) -> Any:
    """The value of a CEL expression with `self = value`; RuleError when it cannot be evaluated."""
    try:
        program = _compile(expression)
        context = cel.Context(variables={"self": value}, functions=KUBERNETES_LIST_FUNCTIONS)
        return program.execute(context)
    except KeyError as exc:
        raise RuleError(f"no such key: {exc.args[0] if exc.args else exc}") from None
    except Exception as exc:  # the cel library raises plain ValueError/RuntimeError/TypeError
        raise RuleError(str(exc)) from None


def evaluate_rule(rule: str, value: Any) -> bool:
    """True when `rule` holds for `self = value`; RuleError when it cannot be evaluated."""
    result = evaluate_expression(rule, value)
    if not isinstance(result, bool):
        raise RuleError(f"rule did not evaluate to a bool: {result!r}")
    return result
