"""Realise SeldonDeployment objects on this machine: processes, splitter, status.

A `Realiser` is the body of the local Seldon controller without any Kubernetes I/O: it takes
SeldonDeployment dicts (`apply`, `delete`) and reports each one's status through a callback,
shaped like Seldon's own status (`state` Creating/Available/Failed, `description`,
`address.url`, `deploymentStatus`, `replicas`). Updates happen in place: predictors whose
model and runtime did not change keep their process, so the stable side never blinks.

Payload logging follows each predictor's `graph.logger.url`, as Seldon's executor does; a realiser
given a `log_url` also logs predictors whose graph has no logger (the embedded default's monitor),
sending the bearer token from `log_token_file`.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

import aiohttp

from mlops_operator.decisions.seldon import (
    GRAPH_NODE,
    STATE_AVAILABLE,
    STATE_CREATING,
    STATE_FAILED,
    deployment_status_key,
)

from .model_server import ModelServer
from .splitter import Route, TrafficSplitter

log = logging.getLogger(__name__)

#: on_status(namespace, name, status): a JSON merge patch of `.status` (None values delete keys).
StatusCallback = Callable[[str, str, dict[str, Any]], Awaitable[None]]

DEFAULT_READY_DEADLINE = 180.0


@dataclass(frozen=True)
class PredictorSpec:
    """What the realiser needs from one spec.predictors[] entry."""

    name: str
    model_uri: str
    model_name: str
    implementation: str
    traffic: int
    shadow: bool
    replicas: int
    ready_deadline: float
    log_url: str = ""
    model_version: str = ""

    def process_key(self) -> tuple:
        """Fields whose change needs a new process (weights do not)."""
        return (self.model_uri, self.model_name, self.implementation, self.replicas > 0)

    @classmethod
    def parse(cls, p: dict[str, Any], default_replicas: int, default_deadline: float) -> "PredictorSpec":
        name = p.get("name")
        if not name:
            raise ValueError("spec.predictors[].name: required")
        graph = p.get("graph") or {}
        uri = graph.get("modelUri")
        if not uri:
            raise ValueError(f"spec.predictors[{name}].graph.modelUri: required by the local controller")
        return cls(
            name=name,
            model_uri=uri,
            model_name=graph.get("name") or GRAPH_NODE,
            implementation=graph.get("implementation") or "SKLEARN_SERVER",
            traffic=int(p.get("traffic") or 0),
            shadow=bool(p.get("shadow", False)),
            replicas=int(p["replicas"]) if p.get("replicas") is not None else default_replicas,
            ready_deadline=float(p.get("progressDeadlineSeconds") or default_deadline),
            log_url=str((graph.get("logger") or {}).get("url") or ""),
            model_version=str((p.get("labels") or {}).get("version") or ""),
        )


@dataclass
class PredictorProcess:
    spec: PredictorSpec
    server: ModelServer | None
    ready: bool = False
    failure: str | None = None
    restarts: int = 0
    crashed: str | None = None  # why the last process exited, while a restart is pending or starting
    restart_at: float | None = None


#: Restart delays after a crash, as the kubelet's CrashLoopBackOff (10 s doubling to 5 min), scaled
#: down for one machine: a model server that dies is started again, never left dead.
RESTART_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)


def restart_delay(restarts: int) -> float:
    return RESTART_BACKOFF[min(restarts, len(RESTART_BACKOFF)) - 1]


@dataclass
class RealisedDeployment:
    """One SeldonDeployment as it runs here."""

    namespace: str
    name: str
    splitter: TrafficSplitter
    predictors: dict[str, PredictorProcess] = field(default_factory=dict)
    spec_hash: str = ""
    generation: int | None = None
    reported: dict[str, Any] | None = None
    reported_keys: set[str] = field(default_factory=set)
    publish_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def pids(self) -> dict[str, int]:
        return {n: p.server.pid for n, p in self.predictors.items() if p.server and p.server.pid}


class Realiser:
    """Turns SeldonDeployments into local MLServer processes behind a TrafficSplitter."""

    def __init__(
        self,
        on_status: StatusCallback,
        *,
        work_dir: str | Path,
        host: str = "127.0.0.1",
        ready_deadline: float = DEFAULT_READY_DEADLINE,
        poll_interval: float = 0.5,
        seed: int | None = None,
        log_url: str | None = None,
        log_token_file: str | None = None,
    ):
        self._on_status = on_status
        self._log_url = log_url or ""
        self._log_token_file = log_token_file
        self._seed = seed  # seeds each splitter's routing draws (reproducible tests); None = OS entropy
        self._work_dir = Path(work_dir)
        self._host = host
        self._ready_deadline = ready_deadline
        self._poll_interval = poll_interval
        self._deployments: dict[tuple[str, str], RealisedDeployment] = {}
        self._lock = asyncio.Lock()
        self._monitor: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self._serial = 0

    def get(self, namespace: str, name: str) -> RealisedDeployment | None:
        return self._deployments.get((namespace, name))

    def keys(self) -> list[tuple[str, str]]:
        return list(self._deployments)

    # -- public operations -------------------------------------------------------------------

    async def apply(self, sdep: dict[str, Any]) -> None:
        """Create or update the local realisation of `sdep` (idempotent for an unchanged spec)."""
        meta = sdep.get("metadata") or {}
        namespace, name = meta.get("namespace") or "default", meta.get("name")
        if not name:
            raise ValueError("metadata.name: required")
        spec = sdep.get("spec") or {}
        spec_hash = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
        async with self._lock:
            self._ensure_monitor()
            dep = self._deployments.get((namespace, name))
            if dep is not None and dep.spec_hash == spec_hash:
                dep.generation = meta.get("generation", dep.generation)
                return
            try:
                wanted = self._parse(spec)
            except ValueError as exc:
                await self._report_invalid(namespace, name, meta.get("generation"), str(exc))
                return
            if dep is None:
                rng = random.Random(f"{self._seed}/{namespace}/{name}") if self._seed is not None else None
                splitter = TrafficSplitter(namespace, name, host=self._host, rng=rng,
                                           log_token_file=self._log_token_file)
                await splitter.start()
                dep = RealisedDeployment(namespace, name, splitter)
                self._deployments[(namespace, name)] = dep
                log.info("realising SeldonDeployment %s/%s at %s", namespace, name, splitter.url)
            dep.spec_hash = spec_hash
            dep.generation = meta.get("generation")
            await self._update(dep, wanted)
        await self._publish(dep)

    async def delete(self, namespace: str, name: str) -> None:
        """Stop everything behind one SeldonDeployment."""
        async with self._lock:
            dep = self._deployments.pop((namespace, name), None)
        if dep is None:
            return
        await dep.splitter.stop()
        await asyncio.gather(*(self._stop_process(p) for p in dep.predictors.values()))
        log.info("stopped SeldonDeployment %s/%s", namespace, name)

    async def stop(self) -> None:
        """Stop every deployment and the readiness monitor."""
        if self._monitor:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
            self._monitor = None
        for namespace, name in list(self._deployments):
            await self.delete(namespace, name)
        if self._session:
            await self._session.close()
            self._session = None

    # -- realisation -------------------------------------------------------------------------

    def _parse(self, spec: dict[str, Any]) -> dict[str, PredictorSpec]:
        raw = spec.get("predictors") or []
        if not raw:
            raise ValueError("spec.predictors: at least one predictor is required")
        default_replicas = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
        wanted: dict[str, PredictorSpec] = {}
        for p in raw:
            parsed = PredictorSpec.parse(p, default_replicas, self._ready_deadline)
            if parsed.name in wanted:
                raise ValueError(f"spec.predictors[{parsed.name}].name: used twice")
            wanted[parsed.name] = parsed
        if sum(p.traffic for p in wanted.values() if not p.shadow) <= 0:
            raise ValueError("spec.predictors[].traffic: no non-shadow predictor receives traffic")
        return wanted

    async def _update(self, dep: RealisedDeployment, wanted: dict[str, PredictorSpec]) -> None:
        removed = [p for n, p in dep.predictors.items() if n not in wanted]
        for name, spec in wanted.items():
            current = dep.predictors.get(name)
            if current is not None and current.spec.process_key() == spec.process_key():
                current.spec = spec  # weight or shadow share changed: no new process
                continue
            if current is not None:
                removed.append(current)
            dep.predictors[name] = self._start_process(dep, spec)
        self._route(dep, wanted)
        for p in removed:
            if dep.predictors.get(p.spec.name) is p:
                del dep.predictors[p.spec.name]
        await asyncio.gather(*(self._stop_process(p) for p in removed))

    def _route(self, dep: RealisedDeployment, wanted: Iterable[str]) -> None:
        dep.splitter.configure(
            Route(p.spec.name, p.server.url if p.server else "http://127.0.0.1:9", p.spec.traffic, p.spec.shadow,
                  log_url=p.spec.log_url or self._log_url, model_uri=p.spec.model_uri,
                  model_version=p.spec.model_version)
            for p in dep.predictors.values()
            if p.spec.name in wanted
        )

    def _start_process(self, dep: RealisedDeployment, spec: PredictorSpec) -> PredictorProcess:
        if spec.replicas <= 0:
            return PredictorProcess(spec, None, ready=True)
        self._serial += 1
        work = self._work_dir / dep.namespace / dep.name / f"{spec.name}-{self._serial}"
        server = ModelServer(spec.model_uri, spec.model_name, work, host=self._host,
                             implementation=spec.implementation)
        try:
            server.start()
        except (ValueError, RuntimeError, OSError) as exc:
            return PredictorProcess(spec, None, failure=f"predictor {spec.name}: {exc}")
        log.info("started MLServer pid %s for %s/%s predictor %s on %s",
                 server.pid, dep.namespace, dep.name, spec.name, server.url)
        return PredictorProcess(spec, server)

    @staticmethod
    async def _stop_process(p: PredictorProcess) -> None:
        if p.server is not None:
            await asyncio.to_thread(p.server.stop)

    # -- readiness and status ----------------------------------------------------------------

    def _ensure_monitor(self) -> None:
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.get_running_loop().create_task(self._monitor_loop())

    async def _monitor_loop(self) -> None:
        self._session = self._session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        while True:
            for dep in list(self._deployments.values()):
                try:
                    await self._check(dep)
                    await self._publish(dep)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one broken deployment must not stop the others' status
                    log.exception("checking %s/%s failed", dep.namespace, dep.name)
            await asyncio.sleep(self._poll_interval)

    async def _check(self, dep: RealisedDeployment) -> None:
        for p in list(dep.predictors.values()):
            if p.restart_at is not None:
                if time.monotonic() >= p.restart_at:
                    await self._restart(dep, p)
                continue
            if p.failure or p.server is None:
                continue
            code = p.server.exit_code()
            if code is not None and not (p.ready or p.restarts):  # never came up: the model is broken
                p.failure = f"predictor {p.spec.name}: MLServer exited with code {code}: {p.server.log_tail()}"
                continue
            if code is not None:  # crashed (or killed) after serving: start it again after a backoff,
                p.ready = False   # as a ReplicaSet would
                p.restarts += 1
                p.crashed = f"MLServer exited with code {code}"
                p.restart_at = time.monotonic() + restart_delay(p.restarts)
                log.warning("predictor %s of %s/%s: %s; restart %d in %.0fs", p.spec.name, dep.namespace,
                            dep.name, p.crashed, p.restarts, restart_delay(p.restarts))
                continue
            if p.ready:
                continue
            if await self._answers_ready(p.server):
                p.ready, p.crashed = True, None
            elif time.monotonic() - p.server.started_at > p.spec.ready_deadline:
                p.failure = (f"predictor {p.spec.name}: not ready within {p.spec.ready_deadline:.0f}s: "
                             f"{p.server.log_tail()}")

    async def _restart(self, dep: RealisedDeployment, crashed: PredictorProcess) -> None:
        await self._stop_process(crashed)  # reaps the dead process and anything it left
        if dep.predictors.get(crashed.spec.name) is not crashed:
            return  # replaced by an update meanwhile
        fresh = self._start_process(dep, crashed.spec)
        fresh.restarts, fresh.crashed = crashed.restarts, crashed.crashed
        dep.predictors[crashed.spec.name] = fresh
        self._route(dep, dep.predictors)

    async def _answers_ready(self, server: ModelServer) -> bool:
        assert self._session is not None
        try:
            async with self._session.get(f"{server.url}/v2/models/{server.model_name}/ready") as resp:
                return resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    def status_of(self, dep: RealisedDeployment) -> dict[str, Any]:
        """Seldon-shaped status for the deployment as it runs now."""
        failures = [p.failure for p in dep.predictors.values() if p.failure]
        if failures:
            state, description = STATE_FAILED, "; ".join(failures)
        elif all(p.ready for p in dep.predictors.values()):
            state, description = STATE_AVAILABLE, ""
        else:
            waiting = sorted(n for n, p in dep.predictors.items() if not p.ready)
            state, description = STATE_CREATING, f"waiting for predictors to be ready: {', '.join(waiting)}"
            crashed = [f"{n}: {p.crashed} (restart {p.restarts})" for n, p in dep.predictors.items()
                       if p.crashed and not p.ready]
            if crashed:
                description += "; " + "; ".join(crashed)
        deployment_status = {}
        for name, p in dep.predictors.items():
            key = deployment_status_key(dep.name, name)
            replicas = 1 if p.spec.replicas > 0 else 0
            deployment_status[key] = {
                "name": key,
                "replicas": replicas,
                "availableReplicas": replicas if p.ready and not p.failure else 0,
                "status": "Failed" if p.failure else ("Available" if p.ready else "Creating"),
            }
            if p.crashed and not p.ready:
                deployment_status[key]["description"] = f"{p.crashed}; restarted {p.restarts} times"
        status: dict[str, Any] = {
            "state": state,
            "description": description,
            "address": {"url": dep.splitter.url},
            "replicas": sum(d["availableReplicas"] for d in deployment_status.values()),
            "deploymentStatus": deployment_status,
        }
        if dep.generation is not None:
            status["observedGeneration"] = dep.generation
        return status

    async def _publish(self, dep: RealisedDeployment) -> None:
        """Report the status if it changed; one write at a time per deployment, in order."""
        async with dep.publish_lock:
            if self._deployments.get((dep.namespace, dep.name)) is not dep:
                return  # deleted meanwhile
            status = self.status_of(dep)
            if status == dep.reported:
                return
            patch = json.loads(json.dumps(status))
            for gone in dep.reported_keys - set(status["deploymentStatus"]):
                patch["deploymentStatus"][gone] = None  # merge patch: remove predictors that left
            try:
                await self._on_status(dep.namespace, dep.name, patch)
            except Exception:
                log.exception("writing status of %s/%s failed; retrying on the next check", dep.namespace, dep.name)
                return
            dep.reported = status
            dep.reported_keys = set(status["deploymentStatus"])

    async def _report_invalid(self, namespace: str, name: str, generation: int | None, message: str) -> None:
        status: dict[str, Any] = {"state": STATE_FAILED, "description": message}
        if generation is not None:
            status["observedGeneration"] = generation
        await self._on_status(namespace, name, status)
