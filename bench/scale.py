"""Reconcile scale on the embedded API: N MLProjects and N ModelDeployments created at once.

Measures the time until every object has an up-to-date status (status.observedGeneration equals
metadata.generation), per-object handling latency, the operator's API requests per object and its
peak RSS; then the floor: as many bare API round-trips as the operator made, without the operator.
Every project also starts a TrainingRun, submitted to a KFP API stand-in that accepts runs and
leaves them RUNNING, so the numbers include the real cost of compiling and submitting pipelines.
Then the steady state: the operator's CPU seconds and API requests per minute while all of them sit idle.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from mlops_operator.devcluster import CRDS, SELDON_CRD, start_operator, stop_process
from mlops_operator.embedded import EmbeddedAPIServer
from mlops_operator.kube import USER_AGENT
from tests.training.kfp_fake import FakeKfp

BASE = "/apis/mlops.dev/v1alpha1/namespaces/default"
CONCURRENCY = 50


def project(i: int) -> dict:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "MLProject", "metadata": {"name": f"p{i}"},
            "spec": {"dataset": {"uri": "sklearn:iris", "version": "v1", "target": "target"},
                     "candidates": [{"name": "lr", "estimator": "LogisticRegression"}],
                     "training": {"backend": "kfp"}}}


def deployment(i: int) -> dict:
    return {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": f"d{i}"},
            "spec": {"model": {"uri": f"file:///models/m{i}"}}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Progress:
    created: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    def see(self, kind: str, obj: dict) -> None:
        key = f"{kind}/{obj['metadata']['name']}"
        status = obj.get("status") or {}
        if key not in self.done and status.get("observedGeneration") == obj["metadata"].get("generation"):
            self.done[key] = time.monotonic()
            if len(self.done) >= self.expected:
                self.complete.set()


async def follow(session: aiohttp.ClientSession, url: str, plural: str, progress: Progress) -> None:
    async with session.get(f"{url}{BASE}/{plural}", params={"watch": "true", "timeoutSeconds": "3600"},
                           timeout=aiohttp.ClientTimeout(total=None)) as resp:
        async for line in resp.content:
            if line.strip():
                event = json.loads(line)
                progress.see(plural, event["object"])


async def create_all(session: aiohttp.ClientSession, url: str, n: int, progress: Progress) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def create(plural: str, body: dict) -> None:
        async with gate:
            async with session.post(f"{url}{BASE}/{plural}", json=body) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"create {plural}/{body['metadata']['name']}: {resp.status} {await resp.text()}")
                progress.created[f"{plural}/{body['metadata']['name']}"] = time.monotonic()

    await asyncio.gather(*(create("mlprojects", project(i)) for i in range(n)),
                         *(create("modeldeployments", deployment(i)) for i in range(n)))


def operator_requests(api: EmbeddedAPIServer) -> int:
    return sum(count for call, count in api.emulator.calls.items()
               if call.user_agent.startswith("kopf/") or call.user_agent == USER_AGENT)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


#: Seconds to wait after the table's objects are done before measuring the idle operator, and how long to measure.
IDLE_SETTLE = 20.0
IDLE_SECONDS = 60.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def idle_cost(api: EmbeddedAPIServer, pid: int, seconds: float) -> tuple[float, float]:
    """Operator CPU seconds and API requests per minute while nothing changes."""
    cpu, requests = cpu_seconds(pid), operator_requests(api)
    await asyncio.sleep(seconds)
    per_minute = 60.0 / seconds
    return (cpu_seconds(pid) - cpu) * per_minute, (operator_requests(api) - requests) * per_minute


async def floor(session: aiohttp.ClientSession, url: str, requests: int) -> tuple[float, list[float]]:
    """The same number of bare round-trips (GET of existing objects), at the same concurrency."""
    gate = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            started = time.monotonic()
            async with session.get(f"{url}{BASE}/modeldeployments/d0") as resp:
                await resp.read()
            latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(requests)))
    return time.monotonic() - started, latencies


async def run(n: int, timeout: float) -> list[tuple[str, ...]]:
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    api = EmbeddedAPIServer()
    await api.start()
    kfp = await FakeKfp(work / "kfp").start()
    try:
        api.apply_files(*sorted(CRDS.glob("*.yaml")), SELDON_CRD)
        kubeconfig = api.write_kubeconfig(work / "kubeconfig")
        operator = await start_operator(kubeconfig, work, 60.0, work / "operator.log", {
            "MLOPS_TRAINING_BACKEND": "kfp", "MLOPS_KFP_ENDPOINT": kfp.url,
            "MLOPS_ARTIFACT_ROOT": (work / "artifacts").as_uri()})
        progress = Progress(expected=2 * n)
        async with aiohttp.ClientSession() as session:
            while not any(c.verb == "watch" and c.resource == "modeldeployments" and c.user_agent.startswith("kopf/")
                          for c in list(api.emulator.calls)):
                await asyncio.sleep(0.2)  # the operator is watching
            watchers = [asyncio.create_task(follow(session, api.url, p, progress))
                        for p in ("mlprojects", "modeldeployments")]
            before = operator_requests(api)
            started = time.monotonic()
            await create_all(session, api.url, n, progress)
            await asyncio.wait_for(progress.complete.wait(), timeout)
            elapsed = time.monotonic() - started
            made = operator_requests(api) - before
            rss = peak_rss_mb(operator.pid)
            await asyncio.sleep(IDLE_SETTLE)  # let the last turns (and TrainingRun submissions) finish
            idle_cpu, idle_requests = await idle_cost(api, operator.pid, IDLE_SECONDS)
            rss_whole_run = peak_rss_mb(operator.pid)  # with the submissions and writes that follow the last status
            await stop_process(operator)
            for task in watchers:
                task.cancel()
            latencies = [progress.done[k] - progress.created[k] for k in progress.done if k in progress.created]
            floor_time, floor_latencies = await floor(session, api.url, made)
    finally:
        await kfp.stop()
        await api.stop()
    ms = 1000.0
    return [
        ("measure", "value"),
        ("objects (MLProjects + ModelDeployments)", f"{n} + {n}"),
        ("TrainingRuns started and submitted to KFP", f"{len(kfp.runs)}"),
        ("time until every status is up to date", f"{elapsed:.1f} s"),
        ("per-object handling latency p50 / p99", f"{percentile(latencies, .5):.2f} s / {percentile(latencies, .99):.2f} s"),
        ("operator API requests (per object)", f"{made} ({made / (2 * n):.1f})"),
        ("operator peak RSS: when every status is up to date / whole run", f"{rss:.0f} MB / {rss_whole_run:.0f} MB"),
        ("floor: the same number of bare round-trips", f"{floor_time:.1f} s"),
        ("floor round-trip latency p50 / p99", f"{percentile(floor_latencies, .5) * ms:.1f} ms / "
                                               f"{percentile(floor_latencies, .99) * ms:.1f} ms"),
        ("ratio to the floor", f"{elapsed / floor_time:.1f}x"),
        ("mean per-object latency", f"{statistics.fmean(latencies):.2f} s"),
        (f"steady state, {n} + {n} idle: operator CPU per minute", f"{idle_cpu:.1f} s"),
        (f"steady state, {n} + {n} idle: operator API requests per minute", f"{idle_requests:.0f}"),
    ]


def title(args) -> str:
    return f"Reconcile scale on the embedded API ({args.objects} MLProjects + {args.objects} ModelDeployments)"


def rows(args) -> list[tuple[str, ...]]:
    return asyncio.run(run(args.objects, args.timeout))
