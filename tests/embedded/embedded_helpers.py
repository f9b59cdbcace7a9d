"""Shared helpers of the embedded-API tests (a uniquely named module: `conftest` names can clash)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CRD_FILES = sorted((REPO / "crds").glob("*.yaml"))
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class Kubectl:
    """Runs the real kubectl against one kubeconfig; returns CompletedProcess (text)."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache = kubeconfig.parent / "kube-cache"  # not ~/.kube/cache: every test has a new port

    def args(self, *args: str) -> list[str]:
        return [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args]

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.args(*args), input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result
