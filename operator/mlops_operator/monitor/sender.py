"""The embedded serving path's payload logger: CloudEvents to the monitor, never in the way.

Like Seldon's executor, the splitter hands each event to a bounded queue and a few workers POST
them. `offer` never waits: when the queue is full the event is dropped and counted, so a slow
or absent monitor costs clients nothing. Failed sends are counted too (no retries: a retry
would hold the queue up for everyone behind it). A worker waits `linger` seconds after the
first event, then sends what has queued up (up to `max_batch`) as one CloudEvents batch (one POST):
on the serving path, fewer and bigger POSTs are what keeps the cost low; `batch=False` sends each event alone in
binary mode, exactly as Seldon's executor does.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

import aiohttp

from . import cloudevents
from .auth import TokenFile

log = logging.getLogger(__name__)

DROP_QUEUE_FULL = "queue-full"
DROP_SEND_FAILED = "send-failed"


class EventSender:
    def __init__(self, url: str, token_file: str | None = None, *, capacity: int = 10_000, workers: int = 2,
                 timeout: float = 10.0, on_drop: Callable[[str, dict[str, str]], None] | None = None,
                 batch: bool = True, max_batch: int = 500, max_batch_bytes: int = 256 * 1024,
                 linger: float = 0.05):
        self.url = url
        self._tokens = TokenFile(token_file) if token_file else None
        self._queue: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue(maxsize=capacity)
        self._workers_n = workers
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._on_drop = on_drop or (lambda reason, headers: None)
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task] = []
        self._batch = batch
        self._max_batch = max_batch
        self._linger = linger
        self._max_batch_bytes = max_batch_bytes  # below the monitor's body limit (1 MiB by default)
        self.sent = 0
        self.dropped = 0

    @property
    def queued(self) -> int:
        """Events waiting in the queue (not yet taken by a worker)."""
        return self._queue.qsize()

    def offer(self, headers: dict[str, str], body: bytes) -> bool:
        """Queue one event; False (dropped, counted) when the queue is full."""
        if not self._workers:
            self._start()
        try:
            self._queue.put_nowait((headers, body))
            return True
        except asyncio.QueueFull:
            self._drop(DROP_QUEUE_FULL, headers)
            return False

    def _start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=aiohttp.TCPConnector(limit=self._workers_n))
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work()) for _ in range(self._workers_n)]

    def _drop(self, reason: str, headers: dict[str, str]) -> None:
        self.dropped += 1
        self._on_drop(reason, headers)

    async def _work(self) -> None:
        carry = None  # an event that did not fit the previous batch
        while True:
            first = carry if carry is not None else await self._queue.get()
            carry = None
            items, size = [first], len(first[1])
            if self._batch and self._linger and self._queue.qsize() < self._max_batch:
                await asyncio.sleep(self._linger)  # let a batch gather: one POST for many events
            while self._batch and len(items) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                size += len(item[1]) + 512  # body + attributes
                if size > self._max_batch_bytes:
                    carry = item
                    break
                items.append(item)
            try:
                if await self._send(items):
                    self.sent += len(items)
                else:
                    for headers, _ in items:
                        self._drop(DROP_SEND_FAILED, headers)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _send(self, items: list[tuple[dict[str, str], bytes]]) -> bool:
        assert self._session is not None
        if self._batch:
            headers = {"Content-Type": cloudevents.BATCH_CONTENT_TYPE}
            body = b"[" + b",".join(cloudevents.structured(h, b) for h, b in items) + b"]"
        else:
            (headers, body), = items
        if self._tokens is not None:
            try:
                headers = {**headers, "Authorization": f"Bearer {self._tokens.token()}"}
            except OSError as exc:
                log.debug("monitor token unreadable: %s", exc)
                return False
        try:
            async with self._session.post(self.url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status >= 300:
                    log.debug("monitor refused %d event(s): HTTP %s", len(items), resp.status)
                    return False
                return True
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.debug("sending %d event(s) to %s failed: %s", len(items), self.url, exc)
            return False

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until every queued event was sent or dropped."""
        if self._workers:
            await asyncio.wait_for(self._queue.join(), timeout)

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._session is not None:
            await self._session.close()
            self._session = None
