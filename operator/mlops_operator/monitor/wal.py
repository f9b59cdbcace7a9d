"""The write-ahead log: what makes a 2xx answer a promise.

Every accepted event or label is appended as one JSON line and fsync'd before the HTTP answer
goes out. Concurrent appends share one write + fsync (group commit), so durability costs one
disk flush per batch, not per request. The log is a numbered series of segments: compaction
starts a new segment, writes the older ones' content to Parquet, then deletes them. On start,
every remaining segment is replayed in order; a torn last line (a crash mid-write, never
acknowledged) is skipped.
"""
from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Iterator


class WriteAheadLog:
    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        self.segment = (int(existing[-1].stem.split("-")[1]) + 1) if existing else 1
        self._file = open(self._path(self.segment), "ab")
        _fsync_dir(directory)
        self._pending: list[tuple[bytes, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None
        self.bytes_written = 0

    def _path(self, n: int) -> Path:
        return self.directory / f"wal-{n:08d}.log"

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob("wal-*.log"))

    async def append(self, *entries: dict[str, Any]) -> None:
        """Returns once the entries are on disk (fsync'd)."""
        data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((data, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write, b"".join(d for d, _ in batch))
            except BaseException as exc:
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                if not isinstance(exc, Exception):
                    raise
                continue
            for _, f in batch:
                if not f.done():
                    f.set_result(None)

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.bytes_written += len(data)

    async def drain(self) -> None:
        """Wait for in-flight appends (before rotating)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def rotate(self) -> list[Path]:
        """Start a new segment; returns the older segments (to delete once compacted)."""
        await self.drain()
        old = self.segments()
        self._file.close()
        self.segment += 1
        self._file = open(self._path(self.segment), "ab")
        _fsync_dir(self.directory)
        self.bytes_written = 0
        return [p for p in old if p != self._path(self.segment)]

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def replay(paths: list[Path]) -> Iterator[dict[str, Any]]:
        for path in paths:
            with open(path, "rb") as handle:
                for line in handle:
                    if not line.endswith(b"\n"):
                        break  # torn write: never acknowledged
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
