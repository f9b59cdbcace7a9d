"""Writing the Ready condition and invalid-spec results the same way for every kind."""
from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from ..api.common import Condition, explain, set_condition
from ..decisions.mergepatch import merge_diff


def ready(status: Any, ok: bool, reason: str, message: str, generation: int | None) -> list[dict]:
    existing = [Condition.model_validate(c) for c in (status.get("conditions") or [])]
    updated = set_condition(existing, "Ready", "True" if ok else "False", reason, message, generation)
    return [c.wire() for c in updated]


def reject_invalid(error: ValidationError, body: Any, status: Any, patch: kopf.Patch, generation: int | None) -> None:
    """An invalid spec is a condition and an event, never an exception (no crash loop)."""
    message = explain(error)
    patch.status["phase"] = "Invalid"
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = ready(status, False, "InvalidSpec", message, generation)
    previous = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    if previous.get("message") != message:
        kopf.event(body, type="Warning", reason="InvalidSpec", message=message)


def write_status(patch: kopf.Patch, status: Any, fields: dict[str, Any]) -> None:
    """Patch exactly the difference between the stored status and `fields` (None removes a key)."""
    for key, value in merge_diff(dict(status), fields).items():
        patch.status[key] = value
