"""Reproducible generation for the fuzz suite.

Hypothesis (6.13x+) also draws strings and numbers it finds as constants in the project's own
imported modules. Which modules are imported when depends on test order and on threads (the
embedded API, lazy imports), so the same seed gave slightly different objects from run to run.
Within tests/fuzz the pool is switched off: derandomized runs generate the same objects every time.
"""
from __future__ import annotations

import pytest
from hypothesis.internal.conjecture import providers


@pytest.fixture(scope="module", autouse=True)
def no_local_constants():
    if not hasattr(providers, "_get_local_constants"):  # another hypothesis version: nothing to switch off
        yield
        return
    empty = providers.Constants()
    original = providers._get_local_constants
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()
