"""Fixtures shared by the end-to-end tests."""
from __future__ import annotations

import pytest
import requests


@pytest.fixture
def http():
    with requests.Session() as c:
        yield c
