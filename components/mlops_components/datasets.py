"""Load the training data from wherever the project says it is, and fingerprint it for lineage."""
from __future__ import annotations

import hashlib
import io

import pandas as pd

from . import locations

#: Demo datasets bundled with scikit-learn, loadable offline.
SKLEARN_DATASETS = ("breast_cancer", "iris", "wine", "diabetes")


def _sklearn_frame(name: str, target: str) -> pd.DataFrame:
    from sklearn import datasets as sk

    if name not in SKLEARN_DATASETS:
        raise ValueError(f"dataset.uri: unknown sklearn dataset {name!r}; choose one of {', '.join(SKLEARN_DATASETS)}")
    bunch = getattr(sk, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    frame = frame.rename(columns={"target": target}) if target != "target" else frame
    return frame


def _penguins_frame() -> pd.DataFrame:
    from importlib import resources

    with resources.files("palmerpenguins").joinpath("data/penguins.csv").open("rb") as handle:
        return pd.read_csv(handle)


def parse(data: bytes, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(data))
    if fmt == "parquet":
        try:
            return pd.read_parquet(io.BytesIO(data))
        except ImportError as exc:
            raise RuntimeError("dataset.format parquet needs pyarrow (or fastparquet) installed") from exc
    raise ValueError(f"dataset.format: unsupported format {fmt!r}; use csv or parquet")


def load(uri: str, fmt: str, target: str) -> pd.DataFrame:
    """The dataset as a DataFrame; for sklearn:<name> the target column is named `target`."""
    if uri.startswith("sklearn:"):
        return _sklearn_frame(uri.split(":", 1)[1], target)
    if uri == "palmerpenguins":
        return _penguins_frame()
    return parse(locations.read_bytes(uri), fmt)


def canonical_csv(frame: pd.DataFrame) -> bytes:
    """One byte representation per table content, whatever file format it came in."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def digest(frame: pd.DataFrame) -> str:
    return "sha256:" + hashlib.sha256(canonical_csv(frame)).hexdigest()
