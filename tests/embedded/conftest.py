"""Fixtures: the embedded API (async and threaded), our real CRDs, and a kubectl runner."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from mlops_operator.embedded import EmbeddedAPIServer, ThreadedAPIServer

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


@pytest.fixture
def crd_files() -> list[Path]:
    return CRD_FILES


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def make_kubectl() -> Callable[[Path], Kubectl]:
    """A kubectl runner for any kubeconfig (skips when kubectl is not installed)."""
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl is not installed (make debs installs kubernetes-client)")
    return Kubectl

@pytest.fixture
async def api() -> AsyncIterator[EmbeddedAPIServer]:
    """The embedded API on this test's event loop, with the project's CRDs applied."""
    async with EmbeddedAPIServer() as server:
        server.apply_files(*CRD_FILES)
        yield server


@pytest.fixture
def threaded_api() -> Iterator[EmbeddedAPIServer]:
    """The embedded API in a background thread (for sync code: kubectl, the kubernetes client)."""
    with ThreadedAPIServer() as server:
        server.apply_files(*CRD_FILES)
        yield server


@pytest.fixture
def kubectl(threaded_api: EmbeddedAPIServer, make_kubectl: Callable[[Path], Kubectl], tmp_path: Path) -> Kubectl:
    return make_kubectl(threaded_api.write_kubeconfig(tmp_path / "kubeconfig"))
