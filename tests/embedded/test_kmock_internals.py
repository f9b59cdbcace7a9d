"""Fails loudly when a kmock upgrade moves the internals embedded/kmock_internals.py uses."""
from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

import kmock

from mlops_operator.embedded import kmock_internals
from mlops_operator.embedded.emulator import EmbeddedKubernetes

PACKAGE = Path(kmock_internals.__file__).parent


def test_kmock_is_the_series_the_internals_were_read_from():
    assert metadata.version("kmock").startswith(kmock_internals.KMOCK_SERIES), (
        "kmock changed: re-read embedded/kmock_internals.py against it, then update KMOCK_SERIES")


def test_the_private_parts_used_are_still_there():
    emulator = EmbeddedKubernetes()
    builtin = kmock_internals.bound_history(emulator, 4)
    assert builtin == len(emulator._payloads)
    assert not kmock_internals.has_user_reactions(emulator, builtin)
    emulator["get /api/v1/namespaces"] << 503
    payload = emulator._payloads[-1]
    assert kmock_internals.has_user_reactions(emulator, builtin)
    assert hasattr(payload, "_source") and hasattr(payload, "_disabled") and hasattr(payload, "priorities")
    assert issubclass(kmock_internals.rendering.ReactionMismatchError, Exception)
    assert {"WATCH", "LIST", "FETCH", "CREATE", "UPDATE", "DELETE"} <= set(kmock_internals.enums.action.__members__)
    assert isinstance(emulator, kmock.KubernetesEmulator)


def test_no_other_module_touches_kmock_internals():
    """The fence: `kmock._internal` and the emulator's private kmock lists appear only in kmock_internals.py."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "kmock_internals.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kmock._"):
                offenders.append(f"{path.name}: from {node.module} import")
            if isinstance(node, ast.Attribute) and node.attr in ("_payloads", "_requests", "_source", "_disabled"):
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert not offenders, offenders
