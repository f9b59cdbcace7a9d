"""Payload logging cost and monitor ingest, on loopback.

1. V2 requests through the embedded serving path (TrafficSplitter in front of one real MLServer
   process) with payload logging off and on, side by side: the same number of requests at the same
   concurrency, alternating off/on rounds so drift in machine load hits both alike; throughput and
   p50/p99 client latency per mode, the best round of each. Logging on sends every request and
   response to a real monitor process (`python -m mlops_operator.monitor`) through the splitter's
   bounded queue; the events it dropped are reported too.
2. Monitor ingest: request+response CloudEvents posted straight to the monitor at a fixed
   concurrency; records/s (a record = both events, each acknowledged after its fsync'd WAL append)
   and the monitor's peak RSS (VmHWM).
"""
from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from mlops_operator.monitor import cloudevents
from mlops_operator.monitor.auth import write_token
from mlops_operator.serving.model_server import ModelServer
from mlops_operator.serving.splitter import Route, TrafficSplitter

REQUESTS = 1500  # per round and mode
ROUNDS = 2
CONCURRENCY = 16
INGEST_RECORDS = 3000
READY_TIMEOUT = 180.0


def title(args) -> str:
    return (f"Monitor: payload logging off vs on ({REQUESTS} V2 requests x {ROUNDS} rounds, concurrency "
            f"{CONCURRENCY}, one MLServer) and monitor ingest ({INGEST_RECORDS} records)")


def _model_dir(root: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serving"))
    from serving_fixtures import write_model_dir

    return write_model_dir(root / "model")


def _request(i: int) -> bytes:
    row = {"mean radius": 14.0 + i % 7, "mean texture": 19.0, "mean smoothness": 0.1, "worst concavity": 0.27}
    return json.dumps({"parameters": {"content_type": "pd"}, "inputs": [
        {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in row.items()]}).encode()


async def _load(url: str, n: int) -> tuple[float, list[float]]:
    """n requests at CONCURRENCY; returns (seconds, per-request latencies in ms)."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in counter:
            started = time.perf_counter()
            async with session.post(url, data=_request(i), headers={"content-type": "application/json"}) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status} from the splitter")
            latencies.append((time.perf_counter() - started) * 1000)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return time.perf_counter() - started, latencies


def _start_monitor(data: Path, token: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "mlops_operator.monitor", "--data-dir", str(data),
                             "--token-file", str(token), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("monitor listening on "):
        proc.kill()
        raise RuntimeError("the monitor did not start")
    return proc, line.split()[3]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _ingest(url: str, token: str, n: int) -> float:
    counter = iter(range(n))
    auth = {"Authorization": f"Bearer {token}"}
    response = json.dumps({"outputs": [{"name": "predict", "shape": [1], "datatype": "INT64", "data": [1]}]}).encode()

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in counter:
            rid = uuid.uuid4().hex
            for kind, body in (("request", _request(i)), ("response", response)):
                headers = {**cloudevents.headers(kind, request_id=rid, namespace="bench", deployment="ingest",
                                                 predictor="stable"), **auth}
                async with session.post(url + "/log", data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 201:
                        raise RuntimeError(f"HTTP {resp.status} from the monitor")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
        return n / (time.perf_counter() - started)


async def _run() -> list[tuple[str, ...]]:
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        root = Path(tmp)
        token = root / "token"
        write_token(token)
        model = _model_dir(root)
        server = ModelServer(model.as_uri(), "model", root / "server")
        monitor, monitor_url = _start_monitor(root / "monitor", token)
        off = TrafficSplitter("bench", "off")
        on = TrafficSplitter("bench", "on", log_token_file=str(token))
        try:
            server.start()
            deadline = time.monotonic() + READY_TIMEOUT
            async with aiohttp.ClientSession() as session:
                while True:
                    try:
                        async with session.get(f"{server.url}/v2/models/model/ready") as resp:
                            if resp.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"MLServer not ready: {server.log_tail()}")
                    await asyncio.sleep(0.5)
            await off.start()
            await on.start()
            off.configure([Route("stable", server.url, 100)])
            on.configure([Route("stable", server.url, 100, log_url=monitor_url + "/log", model_uri=model.as_uri())])
            await _load(f"{off.url}/v2/models/model/infer", 200)  # warm up both paths
            await _load(f"{on.url}/v2/models/model/infer", 200)
            results: dict[str, list[tuple[float, list[float]]]] = {"off": [], "on": []}
            for _ in range(ROUNDS):
                for mode, splitter in (("off", off), ("on", on)):
                    results[mode].append(await _load(f"{splitter.url}/v2/models/model/infer", REQUESTS))
            await on.flush_logs(60)
            dropped = next((s.value for m in on.registry.collect() for s in m.samples
                            if s.name == "mlops_splitter_log_dropped_total" and s.labels["reason"] == "queue-full"), 0)
            failed = next((s.value for m in on.registry.collect() for s in m.samples
                           if s.name == "mlops_splitter_log_dropped_total" and s.labels["reason"] == "send-failed"), 0)
            ingest_rate = await _ingest(monitor_url, token.read_text().strip(), INGEST_RECORDS)
            rss = _peak_rss_mb(monitor.pid)
        finally:
            await off.stop()
            await on.stop()
            server.stop()
            monitor.terminate()
            monitor.wait(30)

    def best(mode: str) -> tuple[float, float, float]:
        seconds, latencies = min(results[mode], key=lambda r: r[0])
        q = statistics.quantiles(latencies, n=100)
        return REQUESTS / seconds, q[49], q[98]

    (t_off, p50_off, p99_off), (t_on, p50_on, p99_on) = best("off"), best("on")
    return [
        ("measure", "logging off", "logging on"),
        ("throughput (requests/s)", f"{t_off:.0f}", f"{t_on:.0f} ({(t_on / t_off - 1) * 100:+.1f}%)"),
        ("client latency p50 / p99", f"{p50_off:.1f} ms / {p99_off:.1f} ms", f"{p50_on:.1f} ms / {p99_on:.1f} ms"),
        ("log events dropped (queue full / send failed)", "-", f"{dropped:.0f} / {failed:.0f}"),
        ("monitor ingest (records/s, request+response each)", "-", f"{ingest_rate:.0f}"),
        ("monitor peak RSS", "-", f"{rss:.0f} MB"),
    ]


def rows(args) -> list[tuple[str, ...]]:
    return asyncio.run(_run())
