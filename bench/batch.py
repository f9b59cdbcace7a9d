"""Batch scoring throughput and peak memory: the BatchPrediction scoring step (chunked, checked, written to
Parquet) against a plain `model.predict` over the same data read whole, for each input size.

Each measurement runs in its own process, so its peak RSS is its own; the input is a Parquet file of
breast-cancer rows (resampled, with noise) written chunk by chunk.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 100_000
FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst concavity"]


def title(args) -> str:
    return ("Batch scoring: the BatchPrediction score step (chunks of 100,000 rows: checks, predictions and scores, "
            "drift counts, Parquet output) vs a plain model.predict of the whole file read at once; best of "
            f"{REPEATS}, each in a fresh process; peak RSS, and in brackets its growth over the loaded libraries")


def _write_input(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_breast_cancer

    base = load_breast_cancer(as_frame=True).frame[FEATURES]
    rng = np.random.default_rng(0)
    writer = None
    done = 0
    while done < rows:
        n = min(CHUNK * 5, rows - done)
        frame = base.sample(n, replace=True, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)
        frame = frame * rng.normal(1.0, 0.01, size=frame.shape)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=CHUNK)
        done += n
    writer.close()


def _write_model(path: Path) -> str:
    from tests.e2e.harness import make_model

    return make_model(path)


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not inherit the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(mode: str, input_path: str, model_uri: str, out: str) -> dict:
    """Both modes load their libraries and the model first; the clock covers reading, scoring (and writing)."""
    import pandas as pd  # noqa: F401

    from mlops_components import batch_rows
    from mlops_operator.decisions import drift_reference  # noqa: F401  (the batch step's drift counting)

    model = batch_rows.load_model(model_uri)
    baseline = _peak_mb()
    start = time.perf_counter()
    if mode == "plain":
        frame = pd.read_parquet(input_path)
        predictions = model.estimator.predict(frame[FEATURES])
        rows = len(predictions)
    else:
        dataset = batch_rows.open_input(input_path, "parquet", model.features, Path(out))
        tally = batch_rows.score_shard(model, dataset, schema_columns=None, keep=[], chunk_size=CHUNK, shard=0,
                                       shards=1, output_uri=Path(out).as_uri(), scratch=Path(out))
        rows = tally.scored
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": seconds, "peak_mb": _peak_mb(), "baseline_mb": baseline}


#: Each measurement is repeated; the fastest run counts (the machine is shared), and the highest peak.
REPEATS = 3


def _measure(mode: str, input_path: Path, model_uri: str, out: Path) -> dict:
    results = []
    for attempt in range(REPEATS):
        done = subprocess.run([sys.executable, "-m", "bench.batch", mode, str(input_path), model_uri,
                               f"{out}-{attempt}"], capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"rows": results[0]["rows"], "seconds": min(r["seconds"] for r in results),
            "peak_mb": max(r["peak_mb"] for r in results), "baseline_mb": max(r["baseline_mb"] for r in results)}


def rows(args) -> list[tuple[str, ...]]:
    sizes = [int(s) for s in str(getattr(args, "batch_rows", "1000000,10000000")).split(",") if s]
    table: list[tuple[str, ...]] = [("rows", "plain rows/s", "plain peak RSS (over libs)", "batch rows/s",
                                     "batch peak RSS (over libs)", "batch / plain throughput",
                                     "batch peak vs smallest input")]
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        root = Path(scratch)
        model_uri = _write_model(root / "model")
        first_peak = None
        for size in sizes:
            source = root / f"in-{size}.parquet"
            _write_input(source, size)
            plain = _measure("plain", source, model_uri, root / f"plain-{size}")
            batch = _measure("batch", source, model_uri, root / f"out-{size}")
            first_peak = first_peak or batch["peak_mb"]
            over = lambda m: f"{m['peak_mb']:,.0f} MB ({m['peak_mb'] - m['baseline_mb']:,.0f} MB)"  # noqa: E731
            table.append((f"{size:,}", f"{plain['rows'] / plain['seconds']:,.0f}", over(plain),
                          f"{batch['rows'] / batch['seconds']:,.0f}", over(batch),
                          f"{(batch['rows'] / batch['seconds']) / (plain['rows'] / plain['seconds']):.2f}x",
                          f"{batch['peak_mb'] / first_peak:.2f}x"))
            source.unlink()
            for leftover in root.glob(f"*-{size}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
    return table


if __name__ == "__main__":
    print(json.dumps(worker(*sys.argv[1:5])))
