"""A real S3-compatible server (moto) on loopback for each test that asks for `s3`."""
from __future__ import annotations

import pytest

from tests.storage import s3server


@pytest.fixture
def s3(tmp_path):
    with s3server.running(tmp_path / "moto.log") as server:
        yield server
