"""Just enough Kubernetes protobuf to read what kubectl's imperative commands send.

`kubectl create namespace|configmap|secret` encode built-in objects as protobuf (the `k8s\\0` envelope
around runtime.Unknown). We decode those few kinds into the same dicts JSON would give; anything
else answers 415 so that the caller learns to send JSON.
"""
from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"

# field number -> (json name, type); a dict type is a nested message schema
_OBJECT_META: dict[int, tuple[str, Any]] = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
    11: ("labels", "map_string"), 12: ("annotations", "map_string"), 14: ("finalizers", "repeated_string"),
}
_SCHEMAS: dict[tuple[str, str], dict[int, tuple[str, Any]]] = {
    ("v1", "Namespace"): {1: ("metadata", _OBJECT_META), 2: ("spec", {1: ("finalizers", "repeated_string")})},
    ("v1", "ConfigMap"): {1: ("metadata", _OBJECT_META), 2: ("data", "map_string"), 3: ("binaryData", "map_bytes"),
                          4: ("immutable", "bool")},
    ("v1", "Secret"): {1: ("metadata", _OBJECT_META), 2: ("data", "map_bytes"), 3: ("type", "string"),
                       4: ("stringData", "map_string"), 5: ("immutable", "bool")},
    ("v1", "ServiceAccount"): {1: ("metadata", _OBJECT_META)},
}
_UNKNOWN = {1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}), 2: ("raw", "raw_bytes")}


class ProtobufError(ValueError):
    """A body this decoder cannot read (an unsupported kind or malformed bytes)."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    fields: list[tuple[int, int | bytes]] = []
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
            fields.append((number, value))
        elif wire == 2:
            length, position = _varint(data, position)
            fields.append((number, data[position:position + length]))
            position += length
        elif wire in (1, 5):
            position += 8 if wire == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return fields


def _message(data: bytes, schema: dict[int, tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, dict):
            result[name] = _message(bytes(value), kind)  # type: ignore[arg-type]
        elif kind == "string":
            result[name] = bytes(value).decode()  # type: ignore[arg-type]
        elif kind == "raw_bytes":
            result[name] = bytes(value)  # type: ignore[arg-type]
        elif kind == "bool":
            result[name] = bool(value)
        elif kind == "repeated_string":
            result.setdefault(name, []).append(bytes(value).decode())  # type: ignore[arg-type]
        elif kind in ("map_string", "map_bytes"):
            entry = dict(_fields(bytes(value)))  # type: ignore[arg-type]
            raw = bytes(entry.get(2, b""))  # type: ignore[arg-type]
            text = raw.decode() if kind == "map_string" else base64.b64encode(raw).decode()
            result.setdefault(name, {})[bytes(entry.get(1, b"")).decode()] = text  # type: ignore[arg-type]
    return result


def decode(body: bytes) -> dict[str, Any]:
    """The JSON-equivalent dict of a protobuf-encoded built-in object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body (missing the k8s\\0 prefix)")
    envelope = _message(body[len(MAGIC):], _UNKNOWN)
    type_meta = envelope.get("typeMeta") or {}
    key = (type_meta.get("apiVersion", ""), type_meta.get("kind", ""))
    schema = _SCHEMAS.get(key)
    if schema is None:
        raise ProtobufError(f"protobuf bodies of {key[1] or 'this kind'} are not supported: send JSON")
    obj = _message(envelope.get("raw", b""), schema)
    return {"apiVersion": key[0], "kind": key[1], **obj}
