"""The training reference of a model version (reference.json), as bins, and live values counted into them.

Numeric bins are right-closed, (e[k-1], e[k]], with the outer bins open to +-inf, so live values
outside the training range still land somewhere. Categorical features get one bin per training
category plus a last "other" bin (reference share 0) for categories never seen in training.
A reference written before quantile bins existed (deciles only) still works: its bins are the
inner deciles and their shares are read off the quantile function, an approximation that each
feature reports (`derived`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

OTHER = "__other__"


@dataclass(frozen=True)
class FeatureReference:
    name: str
    kind: str  # "numeric" | "categorical"
    shares: np.ndarray  # reference share of each bin, sums to 1
    rows: int  # training rows behind the shares (non-missing)
    edges: np.ndarray  # numeric: inner cut points, len(shares) - 1; categorical: empty
    categories: tuple[str, ...] = ()  # categorical: the training categories (the last bin is OTHER)
    centers: np.ndarray | None = None  # numeric: one representative value per bin, for Wasserstein
    scale: float = 1.0  # numeric: the training standard deviation (1 when it is 0 or unknown)
    derived: bool = False  # bins derived from deciles of an old reference: approximate


@dataclass(frozen=True)
class Reference:
    features: tuple[FeatureReference, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def bins(self) -> int:
        return max(len(f.shares) for f in self.features)

    def padded(self, attribute: str) -> np.ndarray:
        """(features, bins) matrix of `shares` or `centers`, padded on the right (zero shares, last center)."""
        out = np.zeros((len(self.features), self.bins))
        for i, f in enumerate(self.features):
            row = f.shares if attribute == "shares" else (f.centers if f.centers is not None else np.zeros(1))
            out[i, : len(row)] = row
            out[i, len(row):] = row[-1] if attribute == "centers" else 0.0
        return out


def _numeric(name: str, entry: Mapping) -> FeatureReference:
    quantiles = np.asarray(entry.get("quantiles") or [], dtype=float)
    if len(quantiles) < 2 or np.any(np.diff(quantiles) < 0) or not np.all(np.isfinite(quantiles)):
        raise ValueError(f"reference.features.{name}.quantiles: need at least 2 finite, sorted values")
    bins = entry.get("bins")
    if bins:
        edges = np.asarray(bins["edges"], dtype=float)
        shares = np.asarray(bins["shares"], dtype=float)
        if len(shares) != len(edges) + 1 or np.any(np.diff(edges) <= 0) or abs(shares.sum() - 1) > 1e-6:
            raise ValueError(f"reference.features.{name}.bins: need strictly increasing edges and one share more")
        derived = False
    else:  # old reference: inner deciles as edges, shares from the quantile function F(e) = max{level: q <= e}
        levels = np.asarray(entry.get("quantileLevels") or np.linspace(0, 1, len(quantiles)), dtype=float)
        edges = np.unique(quantiles[1:-1]) if len(quantiles) > 2 else quantiles[:1]
        cdf = np.array([levels[quantiles <= e].max() for e in edges])
        shares = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
        derived = True
    bounds = np.concatenate([[min(quantiles[0], edges[0])], edges, [max(quantiles[-1], edges[-1])]])
    std = float(entry.get("std") or 0.0)
    return FeatureReference(name, "numeric", shares, int(entry.get("count") or 0), edges,
                            centers=(bounds[:-1] + bounds[1:]) / 2, scale=std if std > 0 else 1.0, derived=derived)


def _categorical(name: str, entry: Mapping) -> FeatureReference:
    frequencies = entry.get("frequencies")
    if not isinstance(frequencies, Mapping) or not frequencies:
        raise ValueError(f"reference.features.{name}.frequencies: need at least one category share")
    categories = tuple(str(k) for k in frequencies)
    shares = np.append(np.asarray([float(v) for v in frequencies.values()]), 0.0)
    return FeatureReference(name, "categorical", shares / shares.sum(), int(entry.get("count") or 0),
                            np.empty(0), categories=categories)


def parse_reference(document: Mapping, section: str | None = None) -> Reference:
    """Bins of every feature of reference.json (or of one of its sections, e.g. "predictions")."""
    body = document.get(section) if section else document
    if not isinstance(body, Mapping) or not isinstance(body.get("features"), Mapping) or not body["features"]:
        raise ValueError(f"reference{'.' + section if section else ''}.features: missing or empty")
    features = []
    for name, entry in body["features"].items():
        kind = entry.get("kind") or ("numeric" if "quantiles" in entry else "categorical")
        features.append(_numeric(name, entry) if kind == "numeric" else _categorical(name, entry))
    return Reference(tuple(features))


def _floats(values) -> np.ndarray:
    """Numbers as float64; what cannot be read as a number becomes NaN (data quality counts it)."""
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            try:
                out[i] = float(v) if v is not None and not isinstance(v, (str, bytes)) else np.nan
            except (TypeError, ValueError):
                pass
        return out


def count_feature(feature: FeatureReference, values) -> np.ndarray:
    """Bin counts of one feature's live values; missing and unreadable values are left out."""
    if feature.kind == "numeric":
        x = np.sort(_floats(values))  # NaN sorts last; sorting then searching the few edges beats binning each value
        below = np.searchsorted(x, feature.edges, side="right")  # values <= each edge
        present = len(x) - int(np.isnan(x).sum())
        return np.diff(np.concatenate([[0], below, [present]]))
    present = [str(v) for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    labels, counts = np.unique(np.asarray(present, dtype=object).astype(str), return_counts=True) if present else ([], [])
    index = {c: i for i, c in enumerate(feature.categories)}
    out = np.zeros(len(feature.shares), dtype=np.int64)
    for label, count in zip(labels, counts):
        out[index.get(label, len(feature.categories))] += count
    return out


def count_bins(reference: Reference, columns: Mapping[str, Sequence]) -> np.ndarray:
    """(features, bins) counts of a batch given column-wise; an absent column counts nothing."""
    if not isinstance(columns, Mapping):
        raise ValueError("columns: expected a mapping of feature name to values")
    out = np.zeros((len(reference.features), reference.bins), dtype=np.int64)
    for i, feature in enumerate(reference.features):
        if feature.name in columns:
            row = count_feature(feature, columns[feature.name])
            out[i, : len(row)] = row
    return out
