"""Fixtures: the embedded API (async and threaded), our real CRDs, and a kubectl runner."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from embedded_helpers import CRD_FILES, KUBECTL, Kubectl

from mlops_operator.embedded import EmbeddedAPIServer, ThreadedAPIServer


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
def kubectl(threaded_api: EmbeddedAPIServer, tmp_path: Path) -> Kubectl:
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl is not installed (make debs installs kubernetes-client)")
    return Kubectl(threaded_api.write_kubeconfig(tmp_path / "kubeconfig"))
