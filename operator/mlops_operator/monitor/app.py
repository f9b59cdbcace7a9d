"""The monitor's HTTP service (aiohttp).

    POST /  or /log      an inference CloudEvent (binary mode, as Seldon's executor sends it)
    POST /feedback       labels: JSON object or list, or a CSV/Parquet upload (columns requestId,label)
    POST /export         a dataset snapshot of a deployment's recorded inputs joined with labels
    GET  /summary        per-predictor counts and stable/shadow pairs, for the operator
    GET  /drift          the latest drift verdict per predictor (input and prediction drift), data quality
    GET  /slices         error slices: live quality per feature bin from labelled records
    GET  /metrics        Prometheus (no token: scrapers are read-only and the series carry no payloads)
    GET  /healthz        liveness (no token)

Every other endpoint needs `Authorization: Bearer <token>`; a refused request changes nothing.
Bad input is answered 4xx with a JSON message naming the field, and the service keeps serving.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlops_components import locations

from . import cloudevents, export, feedback
from .drift import DriftTracker
from .slices import error_slices
from .auth import TokenFile
from .metrics import registry_for
from .store import Store

log = logging.getLogger(__name__)

OPEN_PATHS = {"/healthz", "/metrics"}


@dataclass
class Settings:
    data_dir: Path
    token_file: Path
    host: str = "127.0.0.1"
    port: int = 8080
    retention_hours: float = 24 * 7
    max_body_bytes: int = 1024 * 1024
    compact_interval: float = 5.0
    join_timeout: float = 300.0
    #: A second port serving only the log endpoint, without a token: for Seldon's executor, which
    #: cannot send one. Only a NetworkPolicy admitting the serving pods guards it (the chart has one).
    log_port: int | None = None
    #: Drift windows: a window closes at this many requests or this many seconds after its first one.
    drift_window: int = 500
    drift_seconds: float | None = 300.0
    #: Where dataset snapshots go: a directory or, on a cluster, an s3:// prefix the training pods can read
    #: (credentials and endpoint from the standard environment, as for every storage access). None: data_dir/exports.
    export_root: str | None = None
    #: Where every Parquet file of records and labels is also copied (an s3:// prefix), None: nowhere.
    archive_root: str | None = None


def _error(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"error": message, "field": field}, status=status)


class Monitor:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.data_dir, retention_hours=settings.retention_hours,
                           join_timeout=settings.join_timeout, archive_root=settings.archive_root)
        self.tokens = TokenFile(settings.token_file)
        self.drift = DriftTracker(window_size=settings.drift_window, window_seconds=settings.drift_seconds)
        self.store.on_event = self.drift.observe
        self.registry = registry_for(self.store, self.drift)
        self._runner: web.AppRunner | None = None
        self._log_runner: web.AppRunner | None = None
        self.log_url = ""
        self._tasks: list[asyncio.Task] = []
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        await self.store.open()
        app = web.Application(client_max_size=self.settings.max_body_bytes,
                              middlewares=[self._errors, self._auth])
        for path in ("/", "/log"):
            app.router.add_post(path, self._log)
        app.router.add_post("/feedback", self._feedback)
        app.router.add_post("/export", self._export)
        app.router.add_get("/summary", self._summary)
        app.router.add_get("/drift", self._drift)
        app.router.add_get("/slices", self._slices)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{self.settings.host}:{port}"
        if self.settings.log_port is not None:
            log_app = web.Application(client_max_size=self.settings.max_body_bytes, middlewares=[self._errors])
            for path in ("/", "/log"):
                log_app.router.add_post(path, self._log)
            self._log_runner = web.AppRunner(log_app, access_log=None)
            await self._log_runner.setup()
            log_site = web.TCPSite(self._log_runner, self.settings.host, self.settings.log_port)
            await log_site.start()
            log_port = log_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.log_url = f"http://{self.settings.host}:{log_port}/log"
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._every(self.settings.compact_interval, self.store.compact)),
                       loop.create_task(self._every(60.0, self._expire)),
                       loop.create_task(self._every(1.0, self._tick))]
        return self.url

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for runner in (self._log_runner, self._runner):
            if runner:
                await runner.cleanup()
        self._runner = self._log_runner = None
        await self.store.close()

    @staticmethod
    async def _every(seconds: float, action) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception:  # keep serving; the next round retries
                log.exception("periodic %s failed", getattr(action, "__name__", action))

    async def _tick(self) -> None:
        self.drift.tick()

    async def _expire(self) -> None:
        self.store.remove_expired()

    # -- middlewares -------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "body", f"larger than the limit of {self.settings.max_body_bytes} bytes")
        except (cloudevents.EventError, feedback.FeedbackError, export.ExportError) as exc:
            return _error(400, exc.field, str(exc))

    @web.middleware
    async def _auth(self, request: web.Request, handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or self.tokens.allows(request.headers.get("Authorization")):
            return await handler(request)
        resp = _error(401, "Authorization", "a valid bearer token is required")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="mlops-monitor"'
        return resp

    # -- handlers ----------------------------------------------------------------------------

    async def _json_body(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise feedback.FeedbackError("body", f"not valid JSON: {exc}") from exc

    async def _log(self, request: web.Request) -> web.Response:
        """One event in binary mode (Seldon's executor), or a batch (the embedded splitter)."""
        batch = request.content_type == cloudevents.BATCH_CONTENT_TYPE
        identity: dict[str, Any] = request.headers  # type: ignore[assignment]
        try:
            body = await self._json_body(request)
            if batch:
                if not isinstance(body, list) or not body:
                    raise cloudevents.EventError("body", "a batch must be a non-empty JSON array of CloudEvents")
                events = []
                for i, item in enumerate(body):
                    identity = {"Ce-" + str(k).capitalize(): v for k, v in item.items()} if isinstance(item, dict) else {}
                    try:
                        events.append(cloudevents.parse_structured(item, query=request.query))
                    except cloudevents.EventError as exc:
                        raise cloudevents.EventError(f"[{i}].{exc.field}", str(exc)) from exc
            else:
                events = [cloudevents.parse(cloudevents.with_query_defaults(request.headers, request.query), body)]
        except (cloudevents.EventError, feedback.FeedbackError, web.HTTPRequestEntityTooLarge) as exc:
            key = tuple(str(identity.get(h, ""))[:63] for h in
                        (cloudevents.NAMESPACE, cloudevents.DEPLOYMENT, cloudevents.ENDPOINT))
            reason = "too-large" if isinstance(exc, web.HTTPRequestEntityTooLarge) else getattr(exc, "field", "invalid")
            self.store.refused[(*key, reason.split(".")[-1])] += 1
            raise
        stored = await self.store.add_events(events)
        if batch:
            return web.json_response({"events": len(events), "stored": stored}, status=201)
        return web.json_response({"requestId": events[0].request_id, "stored": stored == 1},
                                 status=201 if stored else 200)

    async def _feedback(self, request: web.Request) -> web.Response:
        fmt = request.query.get("format") or {"text/csv": "csv", "application/vnd.apache.parquet": "parquet",
                                              "application/x-parquet": "parquet"}.get(request.content_type, "json")
        if fmt == "json":
            items = feedback.from_json(await self._json_body(request))
        elif fmt in ("csv", "parquet"):
            items = feedback.from_table(await request.read(), fmt)
        else:
            raise feedback.FeedbackError("format", f"must be json, csv or parquet, got {fmt!r}")
        result = await self.store.add_labels(items)
        if result["unknown"]:
            result["note"] = ("unknown request ids are kept and join their predictions when these arrive "
                              "(within the retention)")
        if result["replaced"]:
            result["note_replaced"] = "a different label for a labelled request id replaces the earlier one"
        return web.json_response(result)

    async def _export(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if not isinstance(body, dict):
            raise export.ExportError("body", "must be a JSON object")
        for name in ("namespace", "deployment"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise export.ExportError(name, "required, a string")
        target = body.get("target", "target")
        if not isinstance(target, str) or not target:
            raise export.ExportError("target", "must be a non-empty string")
        include = body.get("includeUnlabelled", False)
        if not isinstance(include, bool):
            raise export.ExportError("includeUnlabelled", "must be true or false")
        fmt = body.get("format", "csv")
        if fmt not in ("csv", "parquet"):
            raise export.ExportError("format", f"must be csv or parquet, got {fmt!r}")
        since, until = _time(body, "since"), _time(body, "until")
        mix = export.MixWith.parse(body.get("mixWith"))
        rows = self.store.rows(body["namespace"], body["deployment"], since, until)
        table = export.frame(rows, target, include)
        if table.empty:
            raise export.ExportError("deployment", "no recorded rows to export (labelled ones unless includeUnlabelled)")
        live, labelled = len(table), int(table[target].notna().sum())
        if mix is not None:
            table = await asyncio.to_thread(export.mixed, table, mix, target)
        root = self.settings.export_root or str(self.settings.data_dir / "exports")
        directory = locations.join(root, body["namespace"], body["deployment"])
        uri, digest = await asyncio.to_thread(export.write, table, directory, fmt)
        return web.json_response({"uri": uri, "digest": digest, "format": fmt,
                                  "rows": len(table), "columns": list(map(str, table.columns)),
                                  "liveRows": live, "labelled": labelled, "mixedRows": len(table) - live}, status=201)

    async def _summary(self, request: web.Request) -> web.Response:
        namespace, deployment = request.query.get("namespace"), request.query.get("deployment")
        if not namespace or not deployment:
            return _error(400, "namespace" if not namespace else "deployment", "query parameter required")
        try:
            pairs = int(request.query.get("pairs", "0"))
        except ValueError:
            return _error(400, "pairs", "must be an integer")
        return web.json_response(self.store.summary(namespace, deployment, pairs=max(0, pairs)))

    async def _drift(self, request: web.Request) -> web.Response:
        """GET /drift?namespace=&deployment=[&statistic=psi&threshold=0.2&minRows=100&alpha=0.05&top=5]"""
        q = request.query
        namespace, deployment = q.get("namespace"), q.get("deployment")
        if not namespace or not deployment:
            return _error(400, "namespace" if not namespace else "deployment", "query parameter required")
        statistic = q.get("statistic", "psi")
        if statistic not in ("psi", "js", "ks", "wasserstein"):
            return _error(400, "statistic", f"must be psi, js, ks or wasserstein, got {statistic!r}")
        try:
            threshold, alpha = float(q.get("threshold", "0.2")), float(q.get("alpha", "0.05"))
            min_rows, top = int(q.get("minRows", "100")), int(q.get("top", "5"))
        except ValueError as exc:
            return _error(400, "threshold", f"threshold and alpha must be numbers, minRows and top integers: {exc}")
        if not (threshold >= 0 and 0 < alpha < 1 and min_rows >= 1):
            return _error(400, "threshold", "need threshold >= 0, 0 < alpha < 1, minRows >= 1")
        return web.json_response(self.drift.report(namespace, deployment, statistic=statistic, threshold=threshold,
                                                   min_rows=min_rows, alpha=alpha, top=max(1, top)))

    async def _slices(self, request: web.Request) -> web.Response:
        """GET /slices?namespace=&deployment=[&minRows=20&top=10&since=]: where the served model fails."""
        q = request.query
        namespace, deployment = q.get("namespace"), q.get("deployment")
        if not namespace or not deployment:
            return _error(400, "namespace" if not namespace else "deployment", "query parameter required")
        try:
            min_rows, top = int(q.get("minRows", "20")), int(q.get("top", "10"))
            since = float(q["since"]) if q.get("since") else None
        except ValueError:
            return _error(400, "minRows", "minRows and top must be integers, since seconds since the epoch")
        rows = await asyncio.to_thread(self.store.rows, namespace, deployment, since)
        files = self.drift._files_of

        def task_of(uri: str):
            f = files(uri)
            return f.task if f is not None else None

        result = await asyncio.to_thread(error_slices, rows, files, task_of, min_rows=max(1, min_rows), top=max(1, top))
        return web.json_response({"namespace": namespace, "deployment": deployment, "predictors": result})

    async def _metrics(self, request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(self.registry))
        resp.headers["content-type"] = CONTENT_TYPE_LATEST
        return resp

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})


def _time(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()
    raise export.ExportError(name, "must be seconds since the epoch or an ISO 8601 time")
