"""`python -m bench [--objects N] [--timeout S]`: run the benchmarks and print a table."""
from __future__ import annotations

import argparse
import asyncio

from .scale import run


def table(rows: list[tuple[str, str]], title: str) -> str:
    width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    lines = [title, f"| {'measure'.ljust(width)} | {'value'.ljust(value_width)} |",
             f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|"]
    lines += [f"| {k.ljust(width)} | {v.ljust(value_width)} |" for k, v in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--objects", type=int, default=1000, help="MLProjects and ModelDeployments, each (default 1000)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    args = parser.parse_args()
    rows = asyncio.run(run(args.objects, args.timeout))
    print(table(rows, f"Reconcile scale on the embedded API ({args.objects} MLProjects + {args.objects} ModelDeployments)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
