"""Structural-schema handling of custom objects: prune, default, validate, check CEL rules.

Mirrors what the API server does with a CRD's openAPIV3Schema, so that bad objects fail here
exactly as they would on a cluster: 422 with one cause per field, worded like Kubernetes.
"""
from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .cel_rules import RuleError, evaluate_expression, evaluate_rule

_JSON_TYPES = {"object": "object", "array": "array", "string": "string", "integer": "integer",
               "number": "number", "boolean": "boolean"}


@dataclass
class SchemaResult:
    """The pruned object, the validation causes, and the paths of pruned unknown fields."""

    obj: Any
    causes: list[dict[str, str]] = field(default_factory=list)
    unknown_fields: list[str] = field(default_factory=list)


#: JSON types by exact Python type: the walker asks for every value (subclasses take the long way).
_TYPE_NAMES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string",
               list: "array", dict: "object"}


def _type_name(value: Any) -> str:
    name = _TYPE_NAMES.get(type(value))
    if name is not None:
        return name
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_ok(expected: str, value: Any) -> bool:
    actual = _type_name(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer" and actual == "number":
        return float(value).is_integer()
    return actual == expected


def _show(value: Any) -> str:
    """Values in messages the way the API server prints them: strings quoted, numbers bare."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(_type_name(value))


@functools.lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    """A CRD `pattern` with the API server's (Go RE2) meaning of `$`: the end of the text. Python's `$`
    also matches before a final newline, which would let "30s\\n" pass `^([0-9]+(ms|s|m|h))+$`."""
    translated, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            translated.append(r"\Z")
            continue
        translated.append(char)
    return re.compile("".join(translated))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


#: Schema errors after which the API server does not evaluate CEL rules (apiextensions' hasBlockingErr):
#: a rule would meet a wrong type or a missing field and only add noise to the real cause.
BLOCKING_REASONS = frozenset({"FieldValueTypeInvalid", "FieldValueRequired", "FieldValueNotSupported",
                              "FieldValueTooLong", "FieldValueTooMany", "TooMany"})
RULES_NOT_CHECKED = ('Invalid value: "null": some validation rules were not checked because the object was invalid; '
                     'correct the existing errors to complete validation')


class _Walker:
    def __init__(self) -> None:
        self.causes: list[dict[str, str]] = []
        self.unknown: list[str] = []
        self.rules: list[tuple[dict[str, Any], Any, str]] = []  # checked after the whole schema, as the API server does

    def check_rules(self) -> None:
        """Evaluate the CEL rules collected by `walk`, unless a blocking schema error came first."""
        if any(cause["reason"] in BLOCKING_REASONS for cause in self.causes):
            if any(schema.get("x-kubernetes-validations") for schema, _, _ in self.rules):
                self.fail("FieldValueInvalid", "<nil>", RULES_NOT_CHECKED)
            return
        for schema, value, path in self.rules:
            self._rules(schema, value, path)

    def fail(self, reason: str, path: str, message: str) -> None:
        self.causes.append({"reason": reason, "message": message, "field": path})

    def walk(self, schema: dict[str, Any], value: Any, path: str, root: bool = False) -> Any:
        """Return the pruned/defaulted value, recording causes for anything invalid."""
        if value is None:
            # Like the API server's type check: null is wrong only where a type is declared (a value
            # with no type, such as a hyperparameter in a preserve-unknown-fields list, may be null).
            if not schema.get("nullable") and schema.get("type"):
                self.fail("FieldValueTypeInvalid", path,
                          f'Invalid value: "null": {path} in body must be of type {schema.get("type", "object")}: "null"')
            return value
        expected = schema.get("type")
        if schema.get("x-kubernetes-int-or-string"):
            if not isinstance(value, (int, str)) or isinstance(value, bool):
                self.fail("FieldValueTypeInvalid", path,
                          f'Invalid value: {_show(value)}: {path} in body must be of type integer-or-string')
            return value
        if expected and expected in _JSON_TYPES and not _type_ok(expected, value):
            self.fail("FieldValueTypeInvalid", path,
                      f'Invalid value: "{_type_name(value)}": {path} in body must be of type {expected}: '
                      f'"{_type_name(value)}"')
            return value
        if isinstance(value, dict):
            embedded = bool(schema.get("x-kubernetes-embedded-resource"))  # keeps apiVersion/kind/metadata
            value = self._object(schema, value, path, root or embedded)
        elif isinstance(value, list):
            value = self._array(schema, value, path)
        else:
            self._scalar(schema, value, path)
        if "enum" in schema and value not in schema["enum"]:
            supported = ", ".join(_show(option) for option in schema["enum"])
            self.fail("FieldValueNotSupported", path, f"Unsupported value: {_show(value)}: supported values: {supported}")
        if schema.get("x-kubernetes-validations"):
            self.rules.append((schema, value, path))
        return value

    def _object(self, schema: dict[str, Any], value: dict[str, Any], path: str, root: bool) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        result: dict[str, Any] = {}
        for name, prop in properties.items():
            if name not in value and "default" in prop:
                result[name] = copy.deepcopy(prop["default"])
        for key, item in value.items():
            child = _join(path, key)
            if root and key in ("apiVersion", "kind", "metadata"):
                result[key] = item
            elif key in properties:
                if item is None and not properties[key].get("nullable"):
                    continue  # the API server drops nulls of non-nullable fields
                result[key] = self.walk(properties[key], item, child)
            elif isinstance(additional, dict):
                result[key] = self.walk(additional, item, child)
            elif additional is True or preserve:
                result[key] = item
            else:
                self.unknown.append(child)
        for name in schema.get("required") or ():
            if name not in result:
                self.fail("FieldValueRequired", _join(path, name), "Required value")
        if "minProperties" in schema and len(result) < schema["minProperties"]:
            self.fail("FieldValueInvalid", path, f"Invalid value: {len(result)}: {path} in body should have at least "
                                                 f"{schema['minProperties']} properties")
        if "maxProperties" in schema and len(result) > schema["maxProperties"]:
            self.fail("TooMany", path, f"Too many: {len(result)}: must have at most {schema['maxProperties']} items")
        return result

    def _array(self, schema: dict[str, Any], value: list[Any], path: str) -> list[Any]:
        items = schema.get("items")
        result = [self.walk(items, item, f"{path}[{index}]") if isinstance(items, dict) else item
                  for index, item in enumerate(value)]
        if "minItems" in schema and len(result) < schema["minItems"]:
            self.fail("FieldValueInvalid", path,
                      f"Invalid value: {len(result)}: {path} in body should have at least {schema['minItems']} items")
        if "maxItems" in schema and len(result) > schema["maxItems"]:
            self.fail("FieldValueTooMany", path, f"Too many: {len(result)}: must have at most {schema['maxItems']} items")
        if schema.get("uniqueItems") or schema.get("x-kubernetes-list-type") == "set":
            seen: list[Any] = []
            for item in result:
                if item in seen:
                    self.fail("FieldValueDuplicate", path, f"Duplicate value: {_show(item)}")
                seen.append(item)
        if schema.get("x-kubernetes-list-type") == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen_keys: list[Any] = []
            for item in result:
                if isinstance(item, dict):
                    key = tuple(item.get(name) for name in keys)
                    if key in seen_keys:
                        shown = ", ".join(f"{name}={_show(part)}" for name, part in zip(keys, key))
                        self.fail("FieldValueDuplicate", path, f"Duplicate value: map[{shown}]")
                    seen_keys.append(key)
        return result

    def _scalar(self, schema: dict[str, Any], value: Any, path: str) -> None:
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                self.fail("FieldValueInvalid", path, f"Invalid value: {_show(value)}: {path} in body should be at least "
                                                     f"{schema['minLength']} chars long")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                self.fail("FieldValueTooLong", path, f"Too long: may not be more than {schema['maxLength']} bytes")
            if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
                self.fail("FieldValueInvalid", path,
                          f"Invalid value: {_show(value)}: {path} in body should match '{schema['pattern']}'")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self._bounds(schema, value, path)

    def _bounds(self, schema: dict[str, Any], value: float, path: str) -> None:
        if "minimum" in schema:
            low = schema["minimum"]
            if schema.get("exclusiveMinimum") is True and not value > low:
                self.fail("FieldValueInvalid", path, f"Invalid value: {_show(value)}: {path} in body should be greater than {low}")
            elif not schema.get("exclusiveMinimum") and value < low:
                self.fail("FieldValueInvalid", path,
                          f"Invalid value: {_show(value)}: {path} in body should be greater than or equal to {low}")
        if "maximum" in schema:
            high = schema["maximum"]
            if schema.get("exclusiveMaximum") is True and not value < high:
                self.fail("FieldValueInvalid", path, f"Invalid value: {_show(value)}: {path} in body should be less than {high}")
            elif not schema.get("exclusiveMaximum") and value > high:
                self.fail("FieldValueInvalid", path,
                          f"Invalid value: {_show(value)}: {path} in body should be less than or equal to {high}")
        if "multipleOf" in schema and schema["multipleOf"] and (value / schema["multipleOf"]) % 1:
            self.fail("FieldValueInvalid", path,
                      f"Invalid value: {_show(value)}: {path} in body should be a multiple of {schema['multipleOf']}")

    def _rules(self, schema: dict[str, Any], value: Any, path: str) -> None:
        for rule in schema.get("x-kubernetes-validations") or ():
            expression = rule.get("rule", "")
            if "oldSelf" in expression:
                continue  # transition rules need the previous object; not evaluated here
            rule_path = path + (rule.get("fieldPath") or "")
            message = rule.get("message") or f"failed rule: {expression}"
            if rule.get("messageExpression"):
                try:
                    message = str(evaluate_expression(rule["messageExpression"], value))
                except RuleError:
                    pass  # like the API server: fall back to the static message
            try:
                ok = evaluate_rule(expression, value)
            except RuleError as exc:
                self.fail("FieldValueInvalid", rule_path,
                          f'Invalid value: "{_type_name(value)}": {exc} evaluating rule: {message}')
                continue
            if not ok:
                reason = {"FieldValueForbidden": "FieldValueForbidden", "FieldValueRequired": "FieldValueRequired",
                          "FieldValueDuplicate": "FieldValueDuplicate"}.get(rule.get("reason", ""), "FieldValueInvalid")
                self.fail(reason, rule_path, f'Invalid value: "{_type_name(value)}": {message}')


def check_object(schema: dict[str, Any] | None, obj: dict[str, Any]) -> SchemaResult:
    """Prune unknown fields, apply defaults and validate `obj` (a whole custom object)."""
    if not schema:
        return SchemaResult(obj=obj)
    walker = _Walker()
    pruned = walker.walk(schema, obj, "", root=True)
    walker.check_rules()
    return SchemaResult(obj=pruned, causes=walker.causes, unknown_fields=walker.unknown)
