"""The traffic splitter in front of one SeldonDeployment's predictors (what Istio + Seldon's
executor do on a cluster): weighted routing, shadow mirroring, per-predictor metrics.

Clients always get the answer of a non-shadow predictor picked at random by the `traffic`
weights, tagged with `x-seldon-predictor`. Shadow predictors get a copy of each inference
request (fire-and-forget); their answers are kept in a bounded ring buffer next to the primary
answer (`GET /mirror`) and never reach a client. Counters live in a registry of this splitter's
own, served on `/metrics` (names in `mlops_operator.metrics.names`).

Payload logging (what Seldon's executor does with `graph.logger`): for a route with a `log_url`,
each request and its answer are sent to the monitor as CloudEvents through a bounded queue
(`mlops_operator.monitor.sender`), shadow answers marked as such; a full queue drops and counts,
so logging never delays or fails a client. A request that does not fit the model's signature.json
(wrong shape, wrong type, missing input) is answered 400 naming the input before it
reaches the model, and counted (`mlops_splitter_rejected_total{reason}`). Answered requests (2xx) are logged, request and response
together; failures are what the error counters are for. Every answer carries `x-request-id`: the client's own
when it sent one, else a new one, so the client can send a label for it later.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import json
import random
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from mlops_operator.metrics import names
from mlops_operator.monitor import cloudevents
from mlops_operator.monitor.sender import EventSender
from mlops_operator.serving.payload_check import check_request

PREDICTOR_HEADER = "x-seldon-predictor"
REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class Route:
    """Where one predictor answers and how much traffic it gets (mirror share for a shadow; 0 = all)."""

    predictor: str
    url: str
    traffic: int
    shadow: bool = False
    log_url: str = ""  # where to send payload CloudEvents ("" = not logged)
    model_uri: str = ""
    model_version: str = ""


@dataclass
class _Answer:
    predictor: str
    status: int
    body: bytes
    content_type: str
    latency_ms: float


class TrafficSplitter:
    """An aiohttp server routing V2 requests across predictors; reconfigurable in place."""

    def __init__(
        self,
        namespace: str,
        name: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mirror_capacity: int = 1000,
        upstream_timeout: float = 30.0,
        rng: random.Random | None = None,
        log_token_file: str | None = None,
        log_capacity: int = 10_000,
    ):
        self.namespace = namespace
        self.name = name
        self.host = host
        self.port = port
        self._routes: tuple[Route, ...] = ()
        self._rng = rng or random.Random()
        self._mirror: collections.deque[dict[str, Any]] = collections.deque(maxlen=mirror_capacity)
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._timeout = aiohttp.ClientTimeout(total=upstream_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            names.SPLITTER_REQUESTS, "Inference requests sent to a predictor.", names.SPLITTER_LABELS,
            registry=self.registry,
        )
        self._errors = Counter(
            names.SPLITTER_ERRORS, "Inference requests a predictor answered with 5xx or not at all.",
            names.SPLITTER_LABELS, registry=self.registry,
        )
        self._log_token_file = log_token_file
        self._log_capacity = log_capacity
        self._senders: dict[str, EventSender] = {}
        self._log_dropped = Counter(
            names.SPLITTER_LOG_DROPPED, "Inference CloudEvents dropped instead of sent to the monitor.",
            names.SPLITTER_LOG_LABELS, registry=self.registry,
        )
        self._rejected = Counter(
            names.SPLITTER_REJECTED, "Inference requests answered 4xx before the model: bad payloads.",
            names.SPLITTER_REJECTED_LABELS, registry=self.registry,
        )
        self._signatures: dict[str, dict[str, Any] | None] = {}
        self._latency = Histogram(
            names.SPLITTER_LATENCY, "Time for a predictor to answer an inference request.",
            names.SPLITTER_LABELS, buckets=names.LATENCY_BUCKETS, registry=self.registry,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def routes(self) -> tuple[Route, ...]:
        return self._routes

    async def start(self) -> str:
        """Listen (on a free port unless one was given) and return the base URL."""
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=aiohttp.TCPConnector(limit=200))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        prefix = "/seldon/{namespace}/{name}"
        for base in ("", prefix):
            app.router.add_post(base + "/v2/models/{model}/infer", self._infer)
            app.router.add_post(base + "/v2/models/{model}/versions/{version}/infer", self._infer)
            app.router.add_get(base + "/v2/models/{model}/ready", self._ready)
            app.router.add_get(base + "/v2/health/ready", self._ready)
            app.router.add_get(base + "/v2/health/live", self._live)
            app.router.add_route("*", base + "/v2/{tail:.*}", self._passthrough)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/mirror", self._mirror_endpoint)
        app.router.add_get("/routes", self._routes_endpoint)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
        if self._session:
            await self._session.close()
            self._session = None
        for sender in self._senders.values():
            await sender.stop()
        self._senders = {}

    def log_backlog(self) -> int:
        """Payload log events queued and not yet taken for sending."""
        return sum(sender.queued for sender in self._senders.values())

    async def flush_logs(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until queued payload log events were sent or dropped."""
        for sender in list(self._senders.values()):
            await sender.flush(timeout)

    def configure(self, routes: Iterable[Route]) -> None:
        """Swap the routing table at once; in-flight requests finish on the table they started with."""
        routes = tuple(routes)
        live = [r for r in routes if not r.shadow]
        if live and sum(r.traffic for r in live) <= 0:
            raise ValueError("traffic: the non-shadow predictors' weights add up to 0")
        for r in routes:
            role = names.ROLE_SHADOW if r.shadow else names.ROLE_PRIMARY
            labels = (self.namespace, self.name, r.predictor, role)
            self._requests.labels(*labels)
            self._errors.labels(*labels)
            self._latency.labels(*labels)
            if r.log_url:
                for reason in ("queue-full", "send-failed", "invalid"):
                    self._log_dropped.labels(self.namespace, self.name, reason)
        self._routes = routes

    def mirror_records(self, limit: int | None = None, predictor: str | None = None) -> list[dict[str, Any]]:
        records = [r for r in self._mirror if predictor is None or r["shadow"]["predictor"] == predictor]
        return records[-limit:] if limit else records

    # -- routing -----------------------------------------------------------------------------

    def _pick(self, routes: tuple[Route, ...]) -> Route | None:
        live = [r for r in routes if not r.shadow and r.traffic > 0]
        if not live:
            return None
        return self._rng.choices(live, weights=[r.traffic for r in live])[0]

    def _mirrors(self, route: Route) -> bool:
        return route.traffic <= 0 or route.traffic >= 100 or self._rng.random() * 100 < route.traffic

    def _log(self, route: Route, kind: str, request_id: str, body: bytes, at: float | None = None) -> None:
        """Hand one payload event to the monitor's queue; never waits."""
        if not route.log_url:
            return
        if body.lstrip()[:1] != b"{":  # not a V2 JSON object: it would spoil the batch it went in
            self._log_dropped.labels(self.namespace, self.name, "invalid").inc()
            return
        sender = self._senders.get(route.log_url)
        if sender is None:
            sender = self._senders[route.log_url] = EventSender(
                route.log_url, self._log_token_file, capacity=self._log_capacity,
                on_drop=lambda reason, _: self._log_dropped.labels(self.namespace, self.name, reason).inc())
        headers = cloudevents.headers(
            kind, request_id=request_id, namespace=self.namespace, deployment=self.name,
            predictor=route.predictor, model_uri=route.model_uri, model_version=route.model_version,
            shadow=route.shadow, source=self.url, at=at)
        sender.offer(headers, body)

    async def _call(self, route: Route, role: str | None, method: str, path: str, body: bytes,
                    content_type: str | None, request_id: str | None = None) -> _Answer:
        """One upstream call; counted when `role` is given (inference requests only)."""
        assert self._session is not None, "splitter not started"
        headers = {"content-type": content_type} if content_type else {}
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        started = time.perf_counter()
        try:
            async with self._session.request(method, route.url + path, data=body or None, headers=headers) as resp:
                payload = await resp.read()
                answer = _Answer(route.predictor, resp.status, payload,
                                 resp.headers.get("content-type", "application/json"), 0.0)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            message = json.dumps({"error": f"predictor {route.predictor} did not answer: {type(exc).__name__}: {exc}"})
            answer = _Answer(route.predictor, 503, message.encode(), "application/json", 0.0)
        elapsed = time.perf_counter() - started
        answer.latency_ms = elapsed * 1000.0
        if role:
            labels = (self.namespace, self.name, route.predictor, role)
            self._requests.labels(*labels).inc()
            self._latency.labels(*labels).observe(elapsed)
            if answer.status >= 500:
                self._errors.labels(*labels).inc()
        return answer

    def _check_prefix(self, request: web.Request) -> None:
        ns, name = request.match_info.get("namespace"), request.match_info.get("name")
        if ns is not None and (ns, name) != (self.namespace, self.name):
            raise web.HTTPNotFound(text=f"no SeldonDeployment {ns}/{name} behind this splitter")

    @staticmethod
    def _upstream_path(request: web.Request) -> str:
        path = request.rel_url.path
        if path.startswith("/seldon/"):
            path = "/" + path.split("/", 4)[4]
        return path + (f"?{request.rel_url.query_string}" if request.rel_url.query_string else "")

    @staticmethod
    def _respond(answer: _Answer, request_id: str | None = None) -> web.Response:
        resp = web.Response(status=answer.status, body=answer.body)
        resp.headers["content-type"] = answer.content_type
        resp.headers[PREDICTOR_HEADER] = answer.predictor
        if request_id:
            resp.headers[REQUEST_ID_HEADER] = request_id
        return resp

    async def _infer(self, request: web.Request) -> web.StreamResponse:
        self._check_prefix(request)
        request_id = (request.headers.get(REQUEST_ID_HEADER) or "").strip()[:200] or uuid.uuid4().hex
        routes = self._routes
        primary = self._pick(routes)
        if primary is None:
            return web.json_response({"error": "no predictor receives traffic"}, status=503,
                                     headers={REQUEST_ID_HEADER: request_id})
        body = await request.read()
        signature = self._signature(primary.model_uri)
        if signature is not None:  # a bad payload gets a 4xx naming the input; the model never sees it
            problem = check_request(signature, body)
            if problem is not None:
                self._rejected.labels(self.namespace, self.name, primary.predictor, problem.reason).inc()
                return web.json_response(problem.json(), status=problem.status,
                                         headers={REQUEST_ID_HEADER: request_id, PREDICTOR_HEADER: primary.predictor})
        path = self._upstream_path(request)
        ctype = request.headers.get("content-type", "application/json")
        primary_answer: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        for shadow in (r for r in routes if r.shadow and self._mirrors(r)):
            self._spawn(self._shadow_call(shadow, path, body, ctype, primary_answer, request_id))
        started = time.time()
        try:
            answer = await self._call(primary, names.ROLE_PRIMARY, "POST", path, body, ctype, request_id)
        except BaseException:
            primary_answer.cancel()
            raise
        primary_answer.set_result(answer)
        if answer.status < 300:  # answered: both payloads are V2 JSON (a batch embeds them as they are)
            self._log(primary, "request", request_id, body, started)
            self._log(primary, "response", request_id, answer.body)
        return self._respond(answer, request_id)

    def _signature(self, model_uri: str) -> dict[str, Any] | None:
        """The model's signature.json (read once per model URI); None when there is none to check against."""
        if not model_uri:
            return None
        if model_uri not in self._signatures:
            from mlops_components import locations

            try:
                self._signatures[model_uri] = json.loads(locations.read_bytes(locations.join(model_uri, "signature.json")))
            except (OSError, ValueError, RuntimeError):
                self._signatures[model_uri] = None
        return self._signatures[model_uri]

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shadow_call(self, route: Route, path: str, body: bytes, ctype: str,
                           primary_answer: asyncio.Future[_Answer], request_id: str) -> None:
        started = time.time()
        answer = await self._call(route, names.ROLE_SHADOW, "POST", path, body, ctype, request_id)
        if answer.status < 300:
            self._log(route, "request", request_id, body, started)
            self._log(route, "response", request_id, answer.body)
        try:
            primary = await asyncio.wait_for(asyncio.shield(primary_answer), self._timeout.total)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            primary = None
        self._mirror.append({
            "id": next(self._ids),
            "requestId": request_id,
            "time": time.time(),
            "path": path,
            "request": _json_or_text(body),
            "primary": _answer_record(primary) if primary else None,
            "shadow": _answer_record(answer),
        })

    async def _ready(self, request: web.Request) -> web.Response:
        """Ready when every predictor that receives traffic is ready (like a Service with endpoints)."""
        self._check_prefix(request)
        live = [r for r in self._routes if not r.shadow and r.traffic > 0]
        if not live:
            return web.json_response({"ready": False, "reason": "no predictor receives traffic"}, status=503)
        path = self._upstream_path(request)
        answers = await asyncio.gather(*(self._call(r, None, "GET", path, b"", None) for r in live))
        not_ready = [a.predictor for a in answers if a.status != 200]
        if not_ready:
            return web.json_response({"ready": False, "notReady": not_ready}, status=503)
        return web.Response(status=200)

    async def _live(self, request: web.Request) -> web.Response:
        self._check_prefix(request)
        return web.Response(status=200)

    async def _passthrough(self, request: web.Request) -> web.Response:
        """Other V2 calls (model metadata, ...) go to one weighted predictor, uncounted."""
        self._check_prefix(request)
        route = self._pick(self._routes)
        if route is None:
            return web.json_response({"error": "no predictor receives traffic"}, status=503)
        body = await request.read()
        answer = await self._call(route, None, request.method, self._upstream_path(request), body,
                                  request.headers.get("content-type"))
        return self._respond(answer)

    async def _metrics(self, request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(self.registry))
        resp.headers["content-type"] = CONTENT_TYPE_LATEST
        return resp

    async def _mirror_endpoint(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "0")) or None
        except ValueError:
            raise web.HTTPBadRequest(text="limit: must be an integer")
        records = self.mirror_records(limit=limit, predictor=request.query.get("predictor"))
        return web.json_response({"deployment": f"{self.namespace}/{self.name}", "records": records})

    async def _routes_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response({"deployment": f"{self.namespace}/{self.name}",
                                  "routes": [asdict(r) for r in self._routes]})


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", errors="replace")


def _answer_record(answer: _Answer) -> dict[str, Any]:
    payload = _json_or_text(answer.body)
    outputs = payload.get("outputs") if isinstance(payload, dict) else None
    return {
        "predictor": answer.predictor,
        "status": answer.status,
        "latencyMs": round(answer.latency_ms, 3),
        "outputs": outputs if outputs is not None else payload,
    }
