"""The decisions core stays pure: no kopf, no Kubernetes client, no HTTP."""
from __future__ import annotations

import ast
from pathlib import Path

import mlops_operator.decisions as decisions

IMPURE = ("kopf", "kubernetes", "aiohttp", "requests", "httpx", "urllib", "socket", "kfp", "mlserver", "subprocess")
PURE_PACKAGES = [Path(decisions.__file__).parent, Path(decisions.__file__).parent.parent / "api"]


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_decisions_and_api_import_nothing_impure():
    offenders = []
    for package in PURE_PACKAGES:
        for path in sorted(package.glob("*.py")):
            for name in imported_modules(path):
                if name.split(".")[0] in IMPURE:
                    offenders.append(f"{path.name} imports {name}")
    assert not offenders, offenders


def test_the_check_would_catch_an_impure_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import kopf\nfrom kubernetes import client\n")
    assert {"kopf", "kubernetes"} <= imported_modules(bad)
