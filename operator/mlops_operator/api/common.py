"""Building blocks shared by the three kinds: base model, conditions, references, durations."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

GROUP = "mlops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Duration = Annotated[str, Field(pattern=DURATION_PATTERN, description="A duration such as 30s, 5m or 1h30m.")]


def parse_duration(text: str) -> float:
    """Seconds in a Kubernetes-style duration ("1h30m", "45s")."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are rejected so typos surface."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(ApiModel):
    """Status is written by the operator; tolerate fields from newer operator versions."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class LocalObjectReference(ApiModel):
    name: str = Field(min_length=1, description="Name of an object in the same namespace.")


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """A Kubernetes condition (metav1.Condition)."""

    type: str
    status: ConditionStatus
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


def display_number(value: float | None) -> str | None:
    """A metric as `kubectl get` shows it: 0.986, not 0.9863731656184487 (printer columns cannot round)."""
    if value is None:
        return None
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"


def to_rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_rfc3339(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def explain(error: "ValidationError", prefix: str = "spec") -> str:
    """One line per problem, each naming the field as a user writes it (spec.strategy.canary.steps)."""
    lines = []
    for e in error.errors():
        parts = [prefix, *(str(p) for p in e["loc"])]
        message = e["msg"].removeprefix("Value error, ")
        field, sep, rest = message.partition(": ")
        if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", field):  # a validator naming a sub-field
            parts, message = [*parts, field], rest
        lines.append(f"{'.'.join(parts)}: {message}")
    return "; ".join(lines)


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[Condition],
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    now: str | None = None,
) -> list[Condition]:
    """Return conditions with `type` set; lastTransitionTime moves only when status changes."""
    result: list[Condition] = []
    found = False
    for c in conditions:
        if c.type != type:
            result.append(c)
            continue
        found = True
        changed = c.status != status
        result.append(
            Condition(
                type=type,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=(now or now_rfc3339()) if changed else c.last_transition_time,
                observed_generation=observed_generation,
            )
        )
    if not found:
        result.append(
            Condition(
                type=type,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=now or now_rfc3339(),
                observed_generation=observed_generation,
            )
        )
    return result


def find_condition(conditions: list[Condition], type: str) -> Condition | None:
    return next((c for c in conditions if c.type == type), None)


class ObjectStatus(StatusModel):
    """Fields every status carries."""

    phase: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    kopf: dict[str, Any] | None = Field(
        default=None, description="The operator framework's bookkeeping (kept in status, not in user metadata)."
    )
