"""meta.k8s.io/v1 Table answers for `kubectl get`, built from a CRD's additionalPrinterColumns."""
from __future__ import annotations

import datetime
import json
from typing import Any

from .jsonpath import JSONPathError, find
from .resources import ResourceType

NAME_COLUMN = {"name": "Name", "type": "string", "format": "name", "priority": 0,
               "description": "Name must be unique within a namespace."}
AGE_COLUMN = {"name": "Age", "type": "date", "format": "", "priority": 0,
              "description": "CreationTimestamp is a timestamp representing the server time when this object was created."}
_AGE_PATH = ".metadata.creationTimestamp"


def human_duration(seconds: float) -> str:
    """Ages as kubectl shows them (apimachinery's duration.HumanDuration)."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    whole = int(seconds)
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 120:
        return f"{whole}s"
    if minutes < 10:
        return f"{minutes}m" if whole % 60 == 0 else f"{minutes}m{whole % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d" if hours % 24 == 0 else f"{days}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y" if days % 365 == 0 else f"{days // 365}y{days % 365}d"
    return f"{days // 365}y"


def _age(timestamp: str) -> str:
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds())


def wants_table(accept: str) -> bool:
    return "as=Table" in accept.replace(" ", "")


def _columns(resource: ResourceType) -> list[tuple[dict[str, Any], str]]:
    """Column definitions with the JSONPath that fills each one."""
    if not resource.printer_columns:
        return [(AGE_COLUMN, _AGE_PATH)]
    columns = []
    for column in resource.printer_columns:
        definition = {"name": column["name"], "type": column.get("type", "string"),
                      "format": column.get("format", ""), "description": column.get("description", ""),
                      "priority": column.get("priority", 0)}
        columns.append((definition, column["jsonPath"]))
    return columns


def _cell(obj: dict[str, Any], path: str, column_type: str) -> Any:
    try:
        values = find(obj, path)
    except JSONPathError:
        return None
    if not values:
        return None
    value = values[0] if len(values) == 1 else values
    if column_type in ("integer", "number", "boolean") and not isinstance(value, (dict, list)):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if column_type == "date":
        return _age(str(value))  # the API server renders dates as ages, like ConvertToHumanReadableDateType
    return str(value) if column_type in ("string", "date") else value


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def table(resource: ResourceType, objects: list[dict[str, Any]], resource_version: str,
          include_object: str = "PartialObjectMetadata", with_columns: bool = True) -> dict[str, Any]:
    """A Table of `objects`; watch events after the first carry rows without column definitions."""
    columns = _columns(resource)
    rows = []
    for obj in objects:
        cells = [obj.get("metadata", {}).get("name")]
        cells += [_cell(obj, path, definition["type"]) for definition, path in columns]
        row: dict[str, Any] = {"cells": cells}
        row_object = _row_object(obj, include_object)
        if row_object is not None:
            row["object"] = row_object
        rows.append(row)
    body: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                            "metadata": {"resourceVersion": resource_version}, "rows": rows}
    if with_columns:
        body["columnDefinitions"] = [NAME_COLUMN] + [definition for definition, _ in columns]
    return body
