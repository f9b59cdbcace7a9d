"""`mlops-operator traffic`: send real V2 inference requests, count who answered.

Each request carries one dataset row as one input per feature column with
`"parameters": {"content_type": "pd"}`, so the served scikit-learn Pipeline receives a
DataFrame with named columns. The splitter's `x-seldon-predictor` header tells which
predictor answered; the summary counts answers per predictor and per status code.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, TextIO

import aiohttp
import numpy as np
import pandas as pd

from .splitter import PREDICTOR_HEADER

#: Target column of the bundled datasets, dropped when no feature list is given.
DEFAULT_TARGETS = {"palmerpenguins": "species"}


@dataclass
class Summary:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    per_predictor: dict[str, int] = field(default_factory=dict)
    status_codes: dict[int, int] = field(default_factory=dict)

    def render(self) -> str:
        shares = ", ".join(
            f"{p}: {c} ({100.0 * c / self.sent:.1f}%)" for p, c in sorted(self.per_predictor.items())
        ) if self.sent else "-"
        codes = ", ".join(f"{code}: {c}" for code, c in sorted(self.status_codes.items()))
        return f"sent {self.sent}, ok {self.ok}, errors {self.errors}\nanswered by: {shares}\nstatus codes: {codes}"


def load_frame(dataset: str | pd.DataFrame) -> pd.DataFrame:
    """A dataset as a DataFrame: a frame, `sklearn:<name>`, `palmerpenguins`, or a CSV path/URI."""
    if isinstance(dataset, pd.DataFrame):
        return dataset
    from mlops_components import datasets  # the project's one dataset loader

    return datasets.load(dataset, "csv", "target")


def read_signature_features(path: str | Path) -> list[str]:
    """Feature column names from a signature.json (or a model directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "signature.json"
    sig = json.loads(path.read_text())
    for key in ("features", "feature_columns", "featureColumns", "columns", "inputs"):
        items = sig.get(key)
        if isinstance(items, dict):
            return list(items)
        if isinstance(items, list) and items:
            return [i if isinstance(i, str) else i["name"] for i in items]
    raise ValueError(f"{path}: no feature list (expected a 'features' list)")


def feature_frame(frame: pd.DataFrame, dataset: Any, features: list[str] | None, target: str | None) -> pd.DataFrame:
    if features:
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise ValueError(f"features: columns {missing} are not in the dataset")
        chosen = frame[features]
    else:
        target = target or (DEFAULT_TARGETS.get(dataset) if isinstance(dataset, str) else None) or "target"
        if target not in frame.columns:
            raise ValueError(f"target: column {target!r} is not in the dataset; give --features or --target")
        chosen = frame.drop(columns=[target])
    chosen = chosen.dropna()
    if chosen.empty:
        raise ValueError("dataset: no complete rows to send")
    return chosen


def _datatype(series: pd.Series) -> tuple[str, dict[str, str] | None]:
    if pd.api.types.is_bool_dtype(series):
        return "BOOL", None
    if pd.api.types.is_integer_dtype(series):
        return "INT64", None
    if pd.api.types.is_float_dtype(series):
        return "FP64", None
    return "BYTES", {"content_type": "str"}


def v2_request_for_row(frame: pd.DataFrame, index: int) -> dict[str, Any]:
    """The Open Inference Protocol request for one row: one input per column, decoded as pandas."""
    inputs = []
    for column in frame.columns:
        datatype, params = _datatype(frame[column])
        value = frame[column].iloc[index]
        value = value.item() if isinstance(value, np.generic) else value
        entry: dict[str, Any] = {"name": str(column), "shape": [1], "datatype": datatype,
                                 "data": [str(value) if datatype == "BYTES" else value]}
        if params:
            entry["parameters"] = params
        inputs.append(entry)
    return {"parameters": {"content_type": "pd"}, "inputs": inputs}


def infer_url(url: str, model_name: str) -> str:
    url = url.rstrip("/")
    return url if "/v2/models/" in url else f"{url}/v2/models/{model_name}/infer"


async def send_traffic_async(
    url: str,
    dataset: str | pd.DataFrame,
    n: int,
    concurrency: int = 4,
    model_name: str = "model",
    *,
    features: list[str] | None = None,
    target: str | None = None,
    seed: int = 0,
    progress: TextIO | None | bool = True,
    timeout: float = 30.0,
) -> Summary:
    """Send `n` single-row requests with at most `concurrency` in flight.

    progress: a stream for the progress line, True for stderr, None/False for silence.
    """
    if progress is True:
        progress = sys.stderr
    progress = progress or None
    if n < 0:
        raise ValueError(f"n: {n} must not be negative")
    if concurrency < 1:
        raise ValueError(f"concurrency: {concurrency} must be at least 1")
    frame = feature_frame(load_frame(dataset), dataset, features, target)
    order = np.random.default_rng(seed).permutation(len(frame))
    target_url = infer_url(url, model_name)
    summary = Summary()
    per_predictor: collections.Counter[str] = collections.Counter()
    codes: collections.Counter[int] = collections.Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(int(order[i % len(order)]))
    step = max(1, n // 20)

    async def worker(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                row = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = v2_request_for_row(frame, row)
            try:
                async with session.post(target_url, json=body) as resp:
                    await resp.read()
                    status, who = resp.status, resp.headers.get(PREDICTOR_HEADER, "-")
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                status, who = 0, "-"
            summary.sent += 1
            codes[status] += 1
            per_predictor[who] += 1
            if 200 <= status < 300:
                summary.ok += 1
            else:
                summary.errors += 1
            if progress is not None and (summary.sent % step == 0 or summary.sent == n):
                print(f"\r{summary.sent}/{n} sent, {summary.errors} errors", end="", file=progress, flush=True)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        await asyncio.gather(*(worker(session) for _ in range(min(concurrency, max(n, 1)))))
    if progress is not None and n:
        print(file=progress)
    summary.per_predictor = dict(per_predictor)
    summary.status_codes = dict(codes)
    return summary


def send_traffic(
    url: str,
    dataset_uri_or_frame: str | pd.DataFrame,
    n: int,
    concurrency: int = 4,
    model_name: str = "model",
    **kwargs: Any,
) -> Summary:
    """Blocking wrapper of `send_traffic_async` for the command line."""
    return asyncio.run(send_traffic_async(url, dataset_uri_or_frame, n, concurrency, model_name, **kwargs))


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="mlops-operator traffic", description=__doc__.splitlines()[0])
    parser.add_argument("url", help="splitter / SeldonDeployment base URL, or a full .../infer URL")
    parser.add_argument("--dataset", default="sklearn:breast_cancer",
                        help="sklearn:<name>, palmerpenguins, or a CSV path/URI (default: %(default)s)")
    parser.add_argument("-n", "--requests", type=int, default=100, help="requests to send (default: %(default)s)")
    parser.add_argument("-c", "--concurrency", type=int, default=4, help="requests in flight (default: %(default)s)")
    parser.add_argument("--model", default="model", help="model name in the V2 path (default: %(default)s)")
    parser.add_argument("--features", help="comma-separated feature columns to send")
    parser.add_argument("--signature", help="signature.json (or model directory) naming the feature columns")
    parser.add_argument("--target", help="target column to leave out when no features are given")
    parser.add_argument("--seed", type=int, default=0, help="row order seed (default: %(default)s)")
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    features = args.features.split(",") if args.features else None
    if args.signature and not features:
        features = read_signature_features(args.signature)
    try:
        summary = send_traffic(args.url, args.dataset, args.requests, args.concurrency, args.model,
                               features=features, target=args.target, seed=args.seed)
    except ValueError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    print(summary.render())
    return 0 if summary.ok or not summary.sent else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
