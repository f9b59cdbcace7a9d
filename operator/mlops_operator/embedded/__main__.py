"""Run the embedded API alone: `python -m mlops_operator.embedded --kubeconfig .dev/kubeconfig --apply crds/*.yaml`.

Prints the URL, writes the kubeconfig, and serves until interrupted (SIGINT/SIGTERM).
"""
from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from .server import EmbeddedAPIServer


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlops_operator.embedded", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--kubeconfig", type=Path, help="where to write a kubeconfig for kubectl")
    parser.add_argument("--apply", nargs="*", type=Path, default=[], help="YAML files to apply at start (CRDs first)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with EmbeddedAPIServer(args.host, args.port) as server:
        server.apply_files(*args.apply)
        if args.kubeconfig:
            server.write_kubeconfig(args.kubeconfig)
        print(f"embedded Kubernetes API serving at {server.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(_arguments(argv)))


if __name__ == "__main__":
    main()
