"""The embedded serving path logs to the monitor: real splitter, real monitor process, real HTTP.

Upstream model servers here are small aiohttp apps answering V2 (the real MLServer path is
covered in test_embedded_logging.py); what is tested is the splitter's logging and request ids.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local_http import serve  # noqa: E402
from monitor_process import MonitorProcess, v2_request  # noqa: E402
from test_monitor_service import sample  # noqa: E402

from mlops_operator.serving.splitter import REQUEST_ID_HEADER, Route, TrafficSplitter  # noqa: E402

NS, NAME = "team-a", "iris"


def v2_server(answer: int, delay: float = 0.0) -> web.Application:
    async def infer(request: web.Request) -> web.Response:
        await request.read()
        if delay:
            await asyncio.sleep(delay)
        return web.json_response({"model_name": "model", "outputs": [
            {"name": "predict", "shape": [1], "datatype": "INT64", "data": [answer]}]})

    app = web.Application()
    app.router.add_post("/v2/models/{model}/infer", infer)
    return app


async def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_answers_carry_request_ids_and_both_arms_are_logged(monitor: MonitorProcess):
    stable_runner, stable_url = await serve(v2_server(1))
    shadow_runner, shadow_url = await serve(v2_server(0))
    splitter = TrafficSplitter(NS, NAME, log_token_file=str(monitor.token_file))
    await splitter.start()
    try:
        log_url = monitor.url + "/log"
        splitter.configure([Route("stable", stable_url, 100, log_url=log_url, model_uri="file:///m/v1"),
                            Route("candidate", shadow_url, 100, shadow=True, log_url=log_url)])
        ids = []
        async with aiohttp.ClientSession() as session:
            for i in range(30):
                headers = {REQUEST_ID_HEADER: f"client-{i}"} if i % 2 else {}
                async with session.post(f"{splitter.url}/v2/models/model/infer", json=v2_request({"x": float(i)}),
                                        headers=headers) as resp:
                    assert resp.status == 200
                    rid = resp.headers[REQUEST_ID_HEADER]
                    assert rid == f"client-{i}" if i % 2 else len(rid) == 32
                    ids.append(rid)
        assert len(set(ids)) == 30
        await wait_for(lambda: monitor.summary()["predictors"].get("candidate", {}).get("records") == 30,
                       what="30 shadow records")
        await wait_for(lambda: monitor.summary()["predictors"]["candidate"]["responses"] == 30, what="shadow responses")
        await splitter.flush_logs()
        labels = await asyncio.to_thread(monitor.post_json, "/feedback",
                                         [{"requestId": rid, "label": 1} for rid in ids[:15]])
        assert labels.json()["unknown"] == []
        summary = monitor.summary(pairs=100)
        stable, shadow = summary["predictors"]["stable"], summary["predictors"]["candidate"]
        assert (stable["records"], stable["responses"], stable["labelled"], stable["correct"]) == (30, 30, 15, 15)
        assert (shadow["records"], shadow["labelled"], shadow["correct"], shadow["shadow"]) == (30, 15, 0, True)
        assert {p["requestId"] for p in summary["pairs"]} == set(ids)
        assert all(p["stable"]["predictions"] == [1] and p["shadow"][0]["predictions"] == [0] for p in summary["pairs"])
    finally:
        await splitter.stop()
        await stable_runner.cleanup()
        await shadow_runner.cleanup()


async def test_a_stuck_monitor_never_delays_clients_and_drops_are_counted():
    stuck = asyncio.Event()
    received: list[int] = []

    async def never_answers(request: web.Request) -> web.Response:
        received.append(len(await request.json()))  # a batch of events
        await stuck.wait()
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/log", never_answers)
    monitor_runner, monitor_url = await serve(app)
    upstream_runner, upstream_url = await serve(v2_server(1))
    splitter = TrafficSplitter(NS, NAME, log_capacity=5)
    await splitter.start()
    try:
        splitter.configure([Route("stable", upstream_url, 100, log_url=monitor_url + "/log")])
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            for i in range(50):
                async with session.post(f"{splitter.url}/v2/models/model/infer", json=v2_request({"x": 1.0})) as resp:
                    assert resp.status == 200
                    assert REQUEST_ID_HEADER in resp.headers
            elapsed = time.perf_counter() - started
            async with session.get(f"{splitter.url}/metrics") as resp:
                text = await resp.text()
        # 100 events (request + response each): the 2 workers are stuck with the batches they took (at
        # most 1 + 5 each), at most 5 wait in the queue, every other one was dropped and counted
        dropped = sample(text, "mlops_splitter_log_dropped_total", namespace=NS, deployment=NAME, reason="queue-full")
        assert dropped and dropped >= 100 - 5 - 2 * 6, text
        await wait_for(lambda: len(received) == 2 and sum(received) + splitter.log_backlog() + dropped == 100,
                       what="every event accounted for")
        assert elapsed < 10.0  # the sender's timeout is 10 s: nobody waited for it
    finally:
        stuck.set()
        await splitter.stop()
        await upstream_runner.cleanup()
        await monitor_runner.cleanup()


async def test_an_absent_monitor_costs_clients_nothing():
    upstream_runner, upstream_url = await serve(v2_server(1))
    splitter = TrafficSplitter(NS, NAME)
    await splitter.start()
    try:
        splitter.configure([Route("stable", upstream_url, 100, log_url="http://127.0.0.1:9/log")])
        async with aiohttp.ClientSession() as session:
            for _ in range(20):
                async with session.post(f"{splitter.url}/v2/models/model/infer", json=v2_request({"x": 1.0})) as resp:
                    assert resp.status == 200
            await splitter.flush_logs()
            async with session.get(f"{splitter.url}/metrics") as resp:
                text = await resp.text()
        assert sample(text, "mlops_splitter_log_dropped_total", namespace=NS, deployment=NAME, reason="send-failed") == 40
    finally:
        await splitter.stop()
        await upstream_runner.cleanup()


async def test_batches_stay_under_the_monitors_body_limit(tmp_path, token_file):
    from mlops_operator.monitor import cloudevents
    from mlops_operator.monitor.sender import EventSender

    m = MonitorProcess(tmp_path / "small", token_file, "--max-body-bytes", "6000").start()
    sender = EventSender(m.url + "/log", str(token_file), max_batch_bytes=5000)
    try:
        body = json.dumps(v2_request({"x": 1.0, "y": 2.0, "z": 3.0})).encode()
        for i in range(40):  # about 700 bytes each as a structured event: 40 of them would be refused as one
            sender.offer(cloudevents.headers("request", request_id=f"r{i}", namespace=NS, deployment=NAME,
                                             predictor="stable"), body)
        await sender.flush(30)
        assert (sender.sent, sender.dropped) == (40, 0)
        assert m.summary()["predictors"]["stable"]["records"] == 40
    finally:
        await sender.stop()
        m.kill()
