"""The local stand-in for Seldon Core's controller, for the embedded dev cluster.

A thin LIST+WATCH shell over the Kubernetes API (plain http, no auth) around a `Realiser`:
SeldonDeployments in every namespace are realised as MLServer processes behind a splitter,
and their status is written back with a merge patch to the `/status` subresource, as
Seldon's controller would. On a real cluster this class is not used: Seldon does the work.
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp

from mlops_operator.decisions.seldon import COLLECTION_PATH as COLLECTION
from mlops_operator.decisions.seldon import object_path

from .realiser import DEFAULT_READY_DEADLINE, Realiser

log = logging.getLogger(__name__)

class LocalSeldonController:
    """Watches SeldonDeployments at `api_url` and realises them on this machine."""

    def __init__(
        self,
        api_url: str,
        *,
        work_dir: str | Path,
        host: str = "127.0.0.1",
        ready_deadline: float = DEFAULT_READY_DEADLINE,
        retry_interval: float = 1.0,
        seed: int | None = None,
        log_url: str | None = None,
        log_token_file: str | None = None,
    ):
        self.api_url = api_url.rstrip("/")
        self.realiser = Realiser(self._write_status, work_dir=work_dir, host=host,
                                 ready_deadline=ready_deadline, seed=seed,
                                 log_url=log_url, log_token_file=log_token_file)
        self._retry_interval = retry_interval
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task | None = None
        self.synced = asyncio.Event()  # set after the first full LIST was applied

    async def start(self) -> None:
        if self._task is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop watching and stop every process this controller started."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.realiser.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "LocalSeldonController":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # -- watch loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                version = await self._list_and_sync()
                self.synced.set()
                await self._watch(version)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
                log.warning("SeldonDeployment watch interrupted (%s); listing again", exc)
            await asyncio.sleep(self._retry_interval)

    async def _list_and_sync(self) -> str:
        assert self._session is not None
        async with self._session.get(self.api_url + COLLECTION) as resp:
            if resp.status != 200:
                raise ValueError(f"LIST {COLLECTION} answered {resp.status}: {await resp.text()}")
            body = await resp.json()
        seen = set()
        for item in body.get("items") or []:
            meta = item.get("metadata") or {}
            key = (meta.get("namespace") or "default", meta.get("name"))
            seen.add(key)
            await self._on_object(item)
        for key in set(self.realiser.keys()) - seen:
            await self.realiser.delete(*key)
        return (body.get("metadata") or {}).get("resourceVersion") or ""

    async def _watch(self, resource_version: str) -> None:
        assert self._session is not None
        params = {"watch": "true", "allowWatchBookmarks": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        async with self._session.get(self.api_url + COLLECTION, params=params) as resp:
            if resp.status != 200:
                raise ValueError(f"WATCH {COLLECTION} answered {resp.status}: {await resp.text()}")
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise ValueError(f"watch error: {obj.get('message', obj)}")
                if kind in ("ADDED", "MODIFIED"):
                    await self._on_object(obj)
                elif kind == "DELETED":
                    meta = obj.get("metadata") or {}
                    await self.realiser.delete(meta.get("namespace") or "default", meta["name"])
        raise ValueError("watch stream ended")

    async def _on_object(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            await self.realiser.delete(meta.get("namespace") or "default", meta["name"])
            return
        try:
            await self.realiser.apply(obj)
        except Exception:  # one bad object must not stop the controller
            log.exception("realising SeldonDeployment %s/%s failed", meta.get("namespace"), meta.get("name"))

    async def _write_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        assert self._session is not None
        url = self.api_url + object_path(namespace, name) + "/status"
        async with self._session.patch(
            url, data=json.dumps({"status": status}), headers={"content-type": "application/merge-patch+json"}
        ) as resp:
            if resp.status == 404:
                return  # deleted meanwhile; the DELETED event stops it
            if resp.status >= 300:
                raise ValueError(f"PATCH {url} answered {resp.status}: {await resp.text()}")
