"""Fixtures for the serving tests: real model directories and a Realiser that always cleans up."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from serving_fixtures import model_dirs, realiser  # noqa: E402,F401
