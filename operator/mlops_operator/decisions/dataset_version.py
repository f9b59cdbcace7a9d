"""Dataset versions in URIs: a `{version}` placeholder, and `latest` resolved from what a source lists.

`s3://data/churn/{version}/train.csv` with version `2026-11` reads `s3://data/churn/2026-11/train.csv`;
with version `latest`, the operator lists the keys under `s3://data/churn/` and takes the newest
version that fits the pattern, so a new upload starts a TrainingRun like a version bump in the spec.
Versions compare naturally: digits as numbers (v10 after v9), so dates and counters both work.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

PLACEHOLDER = "{version}"
LATEST = "latest"
#: How often `latest` lists its source (a listing of an s3:// prefix is one request per 1,000 keys).
REFRESH_SECONDS = 60.0
#: A version is one path segment: no slash, not empty.
_SEGMENT = r"[^/]+"


def concrete_uri(uri: str, version: str) -> str:
    """The URI of one version (unchanged when the URI holds no placeholder)."""
    return uri.replace(PLACEHOLDER, version)


def listing_prefix(uri: str) -> str:
    """Where to list to find the versions: the URI up to the directory holding the placeholder."""
    if PLACEHOLDER not in uri:
        raise ValueError(f"dataset.uri: version latest needs a {PLACEHOLDER} placeholder in the URI, like "
                         f"s3://bucket/data/{PLACEHOLDER}/train.csv")
    head = uri.split(PLACEHOLDER, 1)[0]
    return head[: head.rfind("/") + 1]


def _pattern(uri: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in uri.split(PLACEHOLDER)]
    return re.compile("^" + f"(?P<version>{_SEGMENT})".join(parts[:2]) + "".join(
        f"(?P=version){p}" for p in parts[2:]) + "$")


def natural_key(version: str) -> tuple:
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", version))


def newest(uri: str, listed: Iterable[str]) -> str | None:
    """The newest version among the listed URIs that fit `uri`'s pattern, or None if none does."""
    pattern = _pattern(uri)
    versions = {m.group("version") for m in map(pattern.match, listed) if m}
    versions.discard(LATEST)
    return max(versions, key=natural_key) if versions else None
