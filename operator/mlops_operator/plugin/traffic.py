"""Traffic for a duration or at a rate: `--duration 5m`, `--rate 20` (requests per second), until Ctrl-C.

A canary only advances on answered requests, so one command must be able to carry a release from its
first step to promotion: this sends batches through `serving.traffic.send_traffic_async` (the one V2
request builder) until the duration is over or the user stops it, and prints a running total.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from typing import TextIO

from ..api.common import parse_duration
from ..serving.traffic import (Summary, build_parser, feature_frame, load_frame, read_signature_features,
                               send_traffic_async)

#: Requests per batch when no rate is given (as fast as the concurrency allows).
BATCH = 50


def add_paced_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--duration", help="keep sending for this long (30s, 5m, 1h); Ctrl-C stops earlier")
    parser.add_argument("--rate", type=float, help="requests per second (default: as fast as -c allows)")
    return parser


def merge(total: Summary, part: Summary) -> None:
    total.sent += part.sent
    total.ok += part.ok
    total.errors += part.errors
    for k, v in part.per_predictor.items():
        total.per_predictor[k] = total.per_predictor.get(k, 0) + v
    for k, v in part.status_codes.items():
        total.status_codes[k] = total.status_codes.get(k, 0) + v


async def paced(url: str, dataset: str, *, duration: float | None, rate: float | None, concurrency: int,
                model: str, features: list[str] | None, target: str | None, seed: int,
                progress: TextIO | None = sys.stderr, clock=time.monotonic) -> Summary:
    """Send until `duration` seconds have passed (forever when None), `rate` requests a second at most."""
    frame = feature_frame(load_frame(dataset), dataset, features, target)  # read the data once, not per batch
    columns = [str(c) for c in frame.columns]
    total = Summary()
    start = clock()
    deadline = start + duration if duration is not None else None
    batch = 0
    while deadline is None or clock() < deadline:
        size = max(1, int(round(rate))) if rate else BATCH
        if rate and deadline is not None:  # the last second may be a part of one
            size = max(1, min(size, math.ceil(rate * (deadline - clock()))))
        began = clock()
        part = await send_traffic_async(url, frame, size, concurrency, model, features=columns,
                                        seed=seed + batch, progress=None)
        merge(total, part)
        batch += 1
        if progress is not None:
            shares = ", ".join(f"{p} {100 * c / total.sent:.0f}%" for p, c in sorted(total.per_predictor.items()))
            print(f"\r{clock() - start:6.0f}s  sent {total.sent}, errors {total.errors}  {shares}   ",
                  end="", file=progress, flush=True)
        if rate:
            wait = size / rate - (clock() - began)
            if deadline is not None:
                wait = min(wait, deadline - clock())
            if wait > 0:
                await asyncio.sleep(wait)
    if progress is not None:
        print(file=progress)
    return total


def main(argv: list[str]) -> int:
    """`traffic URL ...` with --duration/--rate; without them, the plain fixed-count command."""
    parser = add_paced_options(build_parser())
    args = parser.parse_args(argv)
    if args.duration is None and args.rate is None:
        from ..serving.traffic import main as fixed

        return fixed([a for a in argv])
    try:
        duration = parse_duration(args.duration) if args.duration else None
    except ValueError as e:
        print(f"traffic: --duration: {e}", file=sys.stderr)
        return 2
    if args.rate is not None and args.rate <= 0:
        print("traffic: --rate must be positive", file=sys.stderr)
        return 2
    features = args.features.split(",") if args.features else None
    if args.signature and not features:
        features = read_signature_features(args.signature)
    total = Summary()
    try:
        total = asyncio.run(paced(args.url, args.dataset, duration=duration, rate=args.rate,
                                  concurrency=args.concurrency, model=args.model, features=features,
                                  target=args.target, seed=args.seed))
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 0
    except ValueError as exc:
        print(f"traffic: {exc}", file=sys.stderr)
        return 2
    print(total.render())
    return 0 if total.ok or not total.sent else 1
