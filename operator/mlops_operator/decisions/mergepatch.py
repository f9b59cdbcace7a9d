"""RFC 7386 JSON merge patch that turns one document into another (nulls for removed keys)."""
from __future__ import annotations

from typing import Any


def merge_diff(old: Any, new: Any) -> Any:
    """The merge patch p such that applying p to `old` gives `new` (for the keys of `new` at top level)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            if value is not None:
                patch[key] = value
        elif value is None:
            patch[key] = None
        elif isinstance(value, dict) and isinstance(old[key], dict):
            inner = merge_diff(old[key], value)
            inner.update({k: None for k in old[key] if k not in value})
            if inner:
                patch[key] = inner
        elif old[key] != value:
            patch[key] = value
    return patch


def merge_apply(document: Any, patch: Any) -> Any:
    """RFC 7386: `document` with the merge patch applied (a new value; the inputs are not changed)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(document) if isinstance(document, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_apply(result.get(key), value)
    return result
