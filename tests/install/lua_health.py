"""Run Argo CD resource health scripts (health.lua) the way Argo CD does: `obj` global in, `hs` table out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
# Argo CD runs health scripts on gopher-lua, a Lua 5.1: test on Lua 5.1 so 5.2+ features fail here too.
from lupa import lua51 as lupa

from .paths import HEALTH_DIR

ARGOCD_HEALTH_STATES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def _to_lua(runtime: lupa.LuaRuntime, value: Any) -> Any:
    """Python data as Lua values; lists become 1-based sequences like Argo CD's JSON-to-Lua conversion."""
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def run_health(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Evaluate one health.lua against one object; returns {"status": ..., "message": ...}."""
    runtime = lupa.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = _to_lua(runtime, obj)
    result = runtime.execute(script)
    if result is None:
        raise AssertionError("health.lua returned nothing; Argo CD needs a table with status")
    return {key: result[key] for key in ("status", "message") if result[key] is not None}


def health_kinds() -> list[tuple[str, str]]:
    """(group, kind) of every health check under manifests/argocd/health/<group>/<Kind>/health.lua."""
    return sorted((p.parent.parent.name, p.parent.name) for p in HEALTH_DIR.glob("*/*/health.lua"))


def health_script(group: str, kind: str) -> str:
    return (HEALTH_DIR / group / kind / "health.lua").read_text()


def health_cases(group: str, kind: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(inputPath, object, expected healthStatus) of every case in health_test.yaml (Argo CD's format)."""
    directory: Path = HEALTH_DIR / group / kind
    tests = yaml.safe_load((directory / "health_test.yaml").read_text())["tests"]
    return [
        (case["inputPath"], yaml.safe_load((directory / case["inputPath"]).read_text()), case["healthStatus"])
        for case in tests
    ]
