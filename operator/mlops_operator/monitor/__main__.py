"""`python -m mlops_operator.monitor --data-dir D --port P --token-file F --retention-hours H`."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from .app import Monitor, Settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlops_operator.monitor", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True, help="where the WAL, Parquet records and exports live")
    p.add_argument("--token-file", type=Path, required=True, help="file holding the bearer token")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed on start)")
    p.add_argument("--retention-hours", type=float, default=24 * 7)
    p.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    p.add_argument("--compact-interval", type=float, default=5.0, help="seconds between WAL compactions")
    p.add_argument("--join-timeout", type=float, default=300.0,
                   help="seconds to wait for the other half of a record before writing it half-joined")
    p.add_argument("--log-port", type=int, default=None,
                   help="also serve the log endpoint here without a token (for Seldon's executor; "
                        "guard it with a NetworkPolicy)")
    p.add_argument("--drift-window", type=int, default=int(os.environ.get("MLOPS_MONITOR_DRIFT_WINDOW", 500)),
                   help="requests per drift window (env MLOPS_MONITOR_DRIFT_WINDOW)")
    p.add_argument("--drift-seconds", type=float, default=float(os.environ.get("MLOPS_MONITOR_DRIFT_SECONDS", 300)),
                   help="a drift window also closes this many seconds after its first request (0: by count only)")
    p.add_argument("--export-root", default=os.environ.get("MLOPS_MONITOR_EXPORT_ROOT") or None,
                   help="where dataset snapshots go: a directory or an s3:// prefix the training pods can read "
                        "(default: <data-dir>/exports; env MLOPS_MONITOR_EXPORT_ROOT)")
    p.add_argument("--archive-root", default=os.environ.get("MLOPS_MONITOR_ARCHIVE_ROOT") or None,
                   help="also copy every Parquet file of records and labels here (an s3:// prefix; env "
                        "MLOPS_MONITOR_ARCHIVE_ROOT): an archive beyond the retention and the volume")
    return p


async def serve(settings: Settings) -> None:
    monitor = Monitor(settings)
    url = await monitor.start()
    print(f"monitor listening on {url}" + (f" (log endpoint without token: {monitor.log_url})"
                                             if monitor.log_url else ""), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await monitor.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(Settings(
        data_dir=args.data_dir, token_file=args.token_file, host=args.host, port=args.port,
        retention_hours=args.retention_hours, max_body_bytes=args.max_body_bytes,
        compact_interval=args.compact_interval, join_timeout=args.join_timeout, log_port=args.log_port,
        drift_window=args.drift_window, drift_seconds=args.drift_seconds or None, export_root=args.export_root,
        archive_root=args.archive_root,
    )))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
