"""Batch scoring components: chunked and sharded scoring, rows rejected with their reason, inputs that cannot be scored."""
from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_components import batch_rows, batch_steps
from tests.e2e.harness import FEATURES, FRAME, make_model


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory) -> str:
    return make_model(tmp_path_factory.mktemp("model") / "m")


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    picked = FRAME[FEATURES].sample(n, replace=True, random_state=seed).reset_index(drop=True)
    picked["id"] = np.arange(n)
    return picked


def write_parquet(frame: pd.DataFrame, path: Path, row_group: int = 5_000) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group)
    return path


def score(model_uri: str, input_path: Path, fmt: str, out: Path, *, chunk: int = 1000, shard: int = 0,
          shards: int = 1, schema=None, keep=("id",)) -> batch_rows.Tally:
    model = batch_rows.load_model(model_uri)
    dataset = batch_rows.open_input(str(input_path), fmt, model.features, out.parent)
    return batch_rows.score_shard(model, dataset, schema_columns=schema, keep=list(keep), chunk_size=chunk,
                                  shard=shard, shards=shards, output_uri=out.as_uri(), scratch=out.parent)


def test_scores_a_file_larger_than_one_chunk_chunk_by_chunk(model_uri, tmp_path, monkeypatch):
    frame = rows(12_345)
    source = write_parquet(frame, tmp_path / "in.parquet")
    sizes: list[int] = []
    original = batch_rows.predict
    monkeypatch.setattr(batch_rows, "predict", lambda m, f: sizes.append(len(f)) or original(m, f))
    tally = score(model_uri, source, "parquet", tmp_path / "out", chunk=1000)
    assert max(sizes) <= 1000 and sum(sizes) == 12_345 and len(sizes) >= 13
    out = pd.read_parquet(tmp_path / "out" / "predictions")
    assert (tally.rows, tally.scored, tally.rejected) == (12_345, 12_345, 0)
    assert out["row_id"].tolist() == list(range(12_345)) and out["id"].tolist() == list(range(12_345))
    whole = batch_rows.load_model(model_uri).estimator
    assert (out["prediction"].to_numpy() == whole.predict(frame[FEATURES])).all()
    assert np.allclose(out["score"], whole.predict_proba(frame[FEATURES])[:, 1])
    assert sum(tally.classes.values()) == 12_345
    assert tally.feature_counts.sum() == 12_345 * len(FEATURES)  # drift counts of every accepted row


def test_memory_stays_flat_as_the_input_grows(model_uri, tmp_path):
    peaks = {}
    for n in (20_000, 50_000, 250_000):  # the first run warms caches (imports, first-use allocations)
        source = write_parquet(rows(n), tmp_path / f"in-{n}.parquet")
        tracemalloc.start()
        score(model_uri, source, "parquet", tmp_path / f"out-{n}", chunk=2000)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[250_000] < 1.25 * peaks[50_000], peaks  # 5x the rows, (almost) the same peak


def test_bad_rows_are_written_aside_with_their_reason(model_uri, tmp_path):
    frame = rows(3000).astype(object)
    frame.loc[5, "mean radius"] = "abc"
    frame.loc[1500, "mean texture"] = None
    frame.loc[2500, "mean radius"] = -3
    frame.loc[2600, "mean smoothness"] = 7
    frame.to_csv(tmp_path / "in.csv", index=False)
    schema = [{"name": "mean radius", "type": "float", "min": 0},
              {"name": "mean smoothness", "type": "float", "max": 1}]
    tally = score(model_uri, tmp_path / "in.csv", "csv", tmp_path / "out", chunk=1000, schema=schema)
    assert (tally.rows, tally.scored, tally.rejected) == (3000, 2996, 4)
    rejected = pd.read_parquet(tmp_path / "out" / "rejected").set_index("row_id")["reason"].to_dict()
    assert rejected == {5: "mean radius: not a number ('abc')", 1500: "mean texture: missing value",
                        2500: "mean radius: -3 is below min 0", 2600: "mean smoothness: 7 is above max 1"}
    scored = pd.read_parquet(tmp_path / "out" / "predictions")
    assert set(scored["row_id"]).isdisjoint(rejected) and len(scored) == 2996
    assert tally.reasons["mean radius: not a number"] == 1


def test_shards_cover_every_row_once(model_uri, tmp_path):
    frame = rows(10_000)
    source = write_parquet(frame, tmp_path / "in.parquet", row_group=1500)
    frame.to_csv(tmp_path / "in.csv", index=False)
    for fmt, path in (("parquet", source), ("csv", tmp_path / "in.csv")):
        out = tmp_path / f"out-{fmt}"
        tallies = [score(model_uri, path, fmt, out, chunk=1000, shard=i, shards=3).document() for i in range(3)]
        assert all(t["rows"] > 0 for t in tallies), fmt
        total = batch_rows.merge(tallies)
        ids = pd.read_parquet(out / "predictions")["row_id"]
        assert total["rows"] == total["scored"] == 10_000 and sorted(ids) == list(range(10_000)), fmt
        assert len(total["files"]) == 3 and batch_rows.output_digest(total["files"]).startswith("sha256:")


@pytest.mark.parametrize("case, error, words", [
    ("missing-file", batch_rows.InputMissing, "no csv file"),
    ("wrong-columns", batch_rows.SchemaMismatch, "feature columns missing from the input: mean radius"),
    ("wrong-types", batch_rows.SchemaMismatch, "mean radius: expected float, found text"),
    ("empty-file", batch_rows.EmptyInput, "no rows"),
    ("no-model", batch_rows.ModelNotFound, "no model at"),
])
def test_inputs_that_cannot_be_scored_fail_prepare_naming_the_cause(model_uri, tmp_path, case, error, words):
    path = tmp_path / "in.csv"
    frame = rows(50)
    if case == "wrong-columns":
        frame.drop(columns=["mean radius"]).to_csv(path, index=False)
    elif case == "wrong-types":
        frame.assign(**{"mean radius": "big"}).to_csv(path, index=False)
    elif case == "empty-file":
        frame.iloc[:0].to_csv(path, index=False)
    elif case != "missing-file":
        frame.to_csv(path, index=False)
    if case == "no-model":
        frame.to_csv(path, index=False)
    uri = (tmp_path / "nowhere").as_uri() if case == "no-model" else model_uri
    with pytest.raises(error, match=words):
        batch_steps.batch_prepare.python_func(uri, str(path), "csv", "[]", (tmp_path / "run").as_uri()) \
            if hasattr(batch_steps.batch_prepare, "python_func") else \
            batch_steps.batch_prepare(uri, str(path), "csv", "[]", (tmp_path / "run").as_uri())
    recorded = json.loads((tmp_path / "run" / "error.json").read_text())
    assert recorded["step"] == "prepare" and recorded["error"] == error.__name__


def test_summary_adds_shards_and_judges_drift(model_uri, tmp_path):
    source = write_parquet(rows(4000), tmp_path / "in.parquet", row_group=1000)
    out, run = tmp_path / "out", tmp_path / "run"
    plan = batch_steps.batch_prepare(model_uri, str(source), "parquet", '["id"]', run.as_uri())
    tallies = [batch_steps.batch_score(plan, model_uri, str(source), "parquet", "", '["id"]', 1000, i, 2,
                                       out.as_uri(), run.as_uri()) for i in range(2)]
    result = json.loads(batch_steps.batch_summarize(tallies, plan, model_uri, out.as_uri(), run.as_uri(), "psi", 0.2,
                                                    "tr-1", str(source), "v1", "sha256:p"))
    assert result == json.loads((run / "result.json").read_text())
    assert (result["rowsScored"], result["rowsRejected"]) == (4000, 0)
    assert result["summary"]["drift"]["verdict"] == "NoDrift"  # resampled training rows
    assert result["lineage"]["trainingRun"] == "tr-1" and result["lineage"]["inputDigest"].startswith("sha256:")
    assert result["output"]["digest"].startswith("sha256:")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == 4000 and set(summary["drift"]["features"]) == set(FEATURES)
    # a shifted batch drifts
    shifted = rows(4000, seed=1)
    shifted["mean radius"] = shifted["mean radius"] * 1.8
    source2 = write_parquet(shifted, tmp_path / "shifted.parquet")
    out2 = tmp_path / "out2"
    tallies = [batch_steps.batch_score(plan, model_uri, str(source2), "parquet", "", "[]", 1000, 0, 1,
                                       out2.as_uri(), run.as_uri())]
    result = json.loads(batch_steps.batch_summarize(tallies, plan, model_uri, out2.as_uri(), run.as_uri(), "psi",
                                                    0.2, "", str(source2), "", "sha256:p"))
    assert result["summary"]["drift"]["verdict"] == "Drifted" and "mean radius" in result["summary"]["drift"]["drifted"]
