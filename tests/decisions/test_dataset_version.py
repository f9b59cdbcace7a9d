"""`{version}` placeholders and `latest` resolution (pure)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from mlops_operator.decisions import dataset_version as dv

URI = "s3://data/churn/{version}/train.csv"


def test_a_version_fills_the_placeholder_and_plain_uris_stay():
    assert dv.concrete_uri(URI, "2026-11") == "s3://data/churn/2026-11/train.csv"
    assert dv.concrete_uri("file:///d/train.csv", "v3") == "file:///d/train.csv"
    assert dv.concrete_uri("file:///d/{version}/x-{version}.csv", "v3") == "file:///d/v3/x-v3.csv"


def test_listing_starts_at_the_directory_of_the_placeholder():
    assert dv.listing_prefix(URI) == "s3://data/churn/"
    assert dv.listing_prefix("/data/train-{version}.csv") == "/data/"
    with pytest.raises(ValueError, match=r"dataset.uri: version latest needs a \{version\} placeholder"):
        dv.listing_prefix("s3://data/churn/train.csv")


def test_newest_is_natural_and_only_among_uris_that_fit():
    listed = ["s3://data/churn/v9/train.csv", "s3://data/churn/v10/train.csv", "s3://data/churn/v11/other.csv",
              "s3://data/churn/v12/sub/train.csv", "s3://data/churn/README", "s3://data/churn/latest/train.csv"]
    assert dv.newest(URI, listed) == "v10"
    assert dv.newest(URI, ["s3://data/churn/2026-02-01/train.csv", "s3://data/churn/2026-10-01/train.csv"]) == "2026-10-01"
    assert dv.newest(URI, []) is None
    assert dv.newest("/d/x-{version}-{version}.csv", ["/d/x-1-1.csv", "/d/x-2-3.csv"]) == "1"  # repeats must agree


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20))
def test_numbered_versions_resolve_to_the_largest_number(numbers):
    listed = [f"s3://data/churn/v{n}/train.csv" for n in numbers]
    assert dv.newest(URI, listed) == f"v{max(numbers)}"
