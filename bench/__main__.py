"""`python -m bench [--only NAME ...] [--objects N] [--timeout S]`: run the benchmarks and print tables.

Each benchmark is a module of this package with `title(args)` and `rows(args)`, listed in BENCHES;
a row is a tuple of strings (the first row holds the column names), printed as one table.
"""
from __future__ import annotations

import argparse
import importlib

#: Benchmark modules, in the order they run.
BENCHES = ["scale", "decisions", "drift", "monitor", "batch"]


def table(rows: list[tuple[str, ...]], title: str) -> str:
    """A Markdown table; `rows[0]` names the columns."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([title, line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in rows[1:])])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="*", choices=BENCHES, help="run only these benchmarks")
    parser.add_argument("--objects", type=int, default=1000, help="scale: MLProjects and ModelDeployments, each (default 1000)")
    parser.add_argument("--timeout", type=float, default=1800, help="scale: give up after this many seconds")
    parser.add_argument("--batch-rows", default="1000000,10000000",
                        help="batch: input sizes, comma-separated (default 1000000,10000000)")
    args = parser.parse_args()
    for name in args.only or BENCHES:
        module = importlib.import_module(f"bench.{name}")
        print(table(module.rows(args), module.title(args)), flush=True)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
