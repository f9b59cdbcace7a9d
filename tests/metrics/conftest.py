"""The metrics tests reuse the serving fixtures (real models, a Realiser that cleans up)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))

from serving_fixtures import model_dirs, realiser  # noqa: E402,F401
