"""Checking a V2 inference request against the model's signature.json before it reaches the model.

A bad payload (not a JSON object, no `inputs`, an input without data, a shape that does not match
its data, inputs of different row counts, a missing input, a value of the wrong type)
gets a 4xx answer naming the input, instead of a 500 from deep inside the model server; the server
keeps serving. Types follow the signature's feature types (float/int accept numbers but not
booleans, int needs integral values, bool needs true/false, string/category need a scalar); null is
accepted only where the signature's schema says the column is nullable.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PayloadError:
    status: int
    input: str  # the input (or "body" / "inputs") the message is about
    reason: str  # missing-input, wrong-type, wrong-shape, invalid-json, no-inputs
    message: str

    def json(self) -> dict[str, Any]:
        return {"error": self.message, "input": self.input, "reason": self.reason}


def _flat(data: Any) -> list[Any]:
    out: list[Any] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def _kind(declared: str) -> str | None:
    """The schema type of a signature type (also numpy-style names: float64, int32, object); None: unknown."""
    text = declared.lower()
    for prefix, kind in (("bool", "bool"), ("float", "float"), ("double", "float"), ("int", "int"), ("uint", "int"),
                         ("str", "string"), ("object", "string"), ("category", "category"), ("bytes", "string")):
        if text.startswith(prefix):
            return kind
    return None


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind in ("string", "category"):  # the one-hot encoder reads codes sent as numbers too
        return isinstance(value, (str, int, float))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return kind == "float" or (math.isfinite(value) and float(value).is_integer())


def check_request(signature: dict[str, Any] | None, body: bytes) -> PayloadError | None:
    """None when the request is fine (or there is no signature to check it against)."""
    try:
        document = json.loads(body or b"null")
    except ValueError as exc:
        return PayloadError(400, "body", "invalid-json", f"body: not valid JSON: {exc}")
    if not isinstance(document, dict):
        return PayloadError(400, "body", "invalid-json", "body: expected a V2 inference request (a JSON object)")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return PayloadError(400, "inputs", "no-inputs", "inputs: expected a non-empty list of {name, shape, datatype, data}")
    features = {f["name"]: f for f in (signature or {}).get("features") or [] if isinstance(f, dict) and "name" in f}
    nullable = {c.get("name") for c in (signature or {}).get("schema") or [] if isinstance(c, dict) and c.get("nullable")}
    rows: dict[str, int] = {}
    for i, entry in enumerate(inputs):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry.get("name"):
            return PayloadError(400, f"inputs[{i}]", "wrong-shape", f"inputs[{i}]: expected an object with a name")
        name = entry["name"]
        if "data" not in entry:
            return PayloadError(400, name, "wrong-shape", f"input {name!r}: no data")
        values = _flat(entry["data"])
        shape = entry.get("shape")
        if shape is not None:
            if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
                return PayloadError(400, name, "wrong-shape", f"input {name!r}: shape must be a list of integers")
            size = math.prod(d for d in shape if d >= 0)
            if shape and all(d >= 0 for d in shape) and size != len(values):
                return PayloadError(400, name, "wrong-shape",
                                    f"input {name!r}: shape {shape} holds {size} values, data has {len(values)}")
        rows[name] = len(values)
        if not features:
            continue
        feature = features.get(name)
        if feature is None:  # extra inputs are ignored by the model (it selects its columns); the monitor counts them
            continue
        kind = _kind(str(feature.get("type") or feature.get("datatype") or ""))
        for value in values:
            if value is None or (isinstance(value, float) and math.isnan(value)):
                if name in nullable:
                    continue
                return PayloadError(400, name, "wrong-type", f"input {name!r}: missing value (null) where not nullable")
            if kind is not None and not _type_ok(kind, value):
                return PayloadError(400, name, "wrong-type",
                                    f"input {name!r}: expected {kind}, got {type(value).__name__} ({value!r:.40})")
    if features:
        missing = [n for n in features if n not in rows]
        if missing:
            return PayloadError(400, missing[0], "missing-input",
                                f"input {missing[0]!r}: missing (the model needs {', '.join(features)})")
    if len(set(rows.values())) > 1:
        first = next(iter(rows.values()))
        name = next(n for n, count in rows.items() if count != first)
        return PayloadError(400, name, "wrong-shape", f"inputs: different row counts {rows}")
    return None
