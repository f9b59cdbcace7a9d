"""The local Seldon realisation end to end: real MLServer processes behind the real splitter."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import joblib
import pytest
from scipy.stats import chisquare
from seldon_schema import errors_of, peer_validator
from serving_fixtures import FEATURES, breast_cancer_frame, group_alive, seldon_deployment, v2_request, wait_until

from mlops_operator.decisions.seldon import Predictor
from mlops_operator.metrics import names
from mlops_operator.serving.model_server import ModelServer
from mlops_operator.serving.splitter import PREDICTOR_HEADER
from mlops_operator.serving.traffic import send_traffic_async

pytestmark = pytest.mark.e2e

NS, NAME = "ml", "iris"


def sdep(*predictors: Predictor) -> dict:
    return seldon_deployment(NS, NAME, *predictors)


def uri(path: Path) -> str:
    return f"file://{path}"



def counter(splitter, metric: str, predictor: str, role: str = names.ROLE_PRIMARY) -> float:
    value = splitter.registry.get_sample_value(
        metric, {"namespace": NS, "deployment": NAME, "predictor": predictor, "role": role})
    return value or 0.0


async def test_one_mlserver_process_answers_a_v2_request(model_dirs, tmp_path):
    server = ModelServer(uri(model_dirs["stable"]), "model", tmp_path / "server")
    server.start()
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                assert server.exit_code() is None, server.log_tail(20)
                try:
                    async with session.get(f"{server.url}/v2/models/model/ready") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
            frame = breast_cancer_frame()
            expected = joblib.load(model_dirs["stable"] / "model.joblib").predict(frame[FEATURES].iloc[:5])
            got = []
            for i in range(5):
                row = frame[FEATURES].iloc[i].to_dict()
                async with session.post(f"{server.url}/v2/models/model/infer", json=v2_request(row)) as resp:
                    assert resp.status == 200, await resp.text()
                    got.append((await resp.json())["outputs"][0]["data"][0])
        assert got == expected.tolist()
    finally:
        server.stop()
    assert not group_alive(server.pid)


async def test_weighted_split_follows_weights_and_updates_in_place(realiser, model_dirs):
    await realiser.apply(sdep(Predictor("stable", uri(model_dirs["stable"]), 80),
                              Predictor("candidate", uri(model_dirs["flipped"]), 20)))
    status = await realiser.recorder.wait_state(NS, NAME, {"Available", "Failed"})
    assert status["state"] == "Available", status
    assert errors_of(peer_validator("status"), status) == []
    dep = realiser.get(NS, NAME)
    pids = dep.pids()
    url = status["address"]["url"]
    assert url == dep.splitter.url

    n = 400
    summary = await send_traffic_async(url, breast_cancer_frame(), n, 8, features=FEATURES, progress=None)
    assert summary.ok == n and summary.errors == 0
    observed = [summary.per_predictor.get("stable", 0), summary.per_predictor.get("candidate", 0)]
    assert sum(observed) == n
    assert chisquare(observed, [0.8 * n, 0.2 * n]).pvalue > 0.001, observed

    # Shift weights: same processes, new split.
    await realiser.apply(sdep(Predictor("stable", uri(model_dirs["stable"]), 50),
                              Predictor("candidate", uri(model_dirs["flipped"]), 50)))
    assert dep.pids() == pids
    summary = await send_traffic_async(url, breast_cancer_frame(), n, 8, features=FEATURES, progress=None)
    observed = [summary.per_predictor.get("stable", 0), summary.per_predictor.get("candidate", 0)]
    assert summary.ok == n
    assert chisquare(observed, [0.5 * n, 0.5 * n]).pvalue > 0.001, observed
    assert chisquare(observed, [0.8 * n, 0.2 * n]).pvalue < 0.001, "the old weights still apply"

    # Remove the candidate: its process stops, the stable one never restarts.
    await realiser.apply(sdep(Predictor("stable", uri(model_dirs["stable"]), 100)))
    assert dep.pids() == {"stable": pids["stable"]}
    assert not group_alive(pids["candidate"])
    assert group_alive(pids["stable"])
    last = realiser.recorder.last(NS, NAME)
    assert last["deploymentStatus"]["iris-candidate-0-model"] is None  # merge patch removes it
    summary = await send_traffic_async(url, breast_cancer_frame(), 50, 4, features=FEATURES, progress=None)
    assert summary.per_predictor == {"stable": 50}

    await realiser.stop()
    assert not group_alive(pids["stable"])


async def test_shadow_gets_mirrored_requests_but_clients_see_only_stable(realiser, model_dirs):
    await realiser.apply(sdep(Predictor("stable", uri(model_dirs["stable"]), 100),
                              Predictor("shadow", uri(model_dirs["flipped"]), 100, shadow=True)))
    status = await realiser.recorder.wait_state(NS, NAME, {"Available", "Failed"})
    assert status["state"] == "Available", status
    splitter = realiser.get(NS, NAME).splitter
    frame = breast_cancer_frame()
    stable_model = joblib.load(model_dirs["stable"] / "model.joblib")
    flipped_model = joblib.load(model_dirs["flipped"] / "model.joblib")
    n = 60
    rows = frame[FEATURES].iloc[:n]
    expected = stable_model.predict(rows).tolist()
    assert sum(a != b for a, b in zip(expected, flipped_model.predict(rows).tolist())) > n // 2

    answers, who = [], set()
    async with aiohttp.ClientSession() as session:
        for i in range(n):
            body = v2_request(rows.iloc[i].to_dict())
            async with session.post(f"{status['address']['url']}/seldon/{NS}/{NAME}/v2/models/model/infer",
                                    json=body) as resp:
                assert resp.status == 200
                who.add(resp.headers[PREDICTOR_HEADER])
                answers.append((await resp.json())["outputs"][0]["data"][0])
        assert who == {"stable"}
        assert answers == expected  # never the shadow's (flipped) answers

        await wait_until(lambda: len(splitter.mirror_records()) == n, what="all mirrored answers")
        async with session.get(f"{splitter.url}/mirror") as resp:
            records = (await resp.json())["records"]
    assert len(records) == n
    assert all(r["primary"]["predictor"] == "stable" and r["shadow"]["predictor"] == "shadow" for r in records)
    by_request = {tuple(i["data"][0] for i in r["request"]["inputs"]): r for r in records}
    for i in range(n):
        record = by_request[tuple(float(v) for v in rows.iloc[i])]
        assert record["shadow"]["status"] == 200
        assert record["primary"]["outputs"][0]["data"][0] == expected[i]
        assert record["shadow"]["outputs"][0]["data"][0] == flipped_model.predict(rows.iloc[[i]]).tolist()[0]
    assert counter(splitter, "mlops_splitter_requests_total", "shadow", names.ROLE_SHADOW) == n
    assert counter(splitter, "mlops_splitter_requests_total", "stable") == n
    assert counter(splitter, "mlops_splitter_requests_total", "shadow") == 0


async def test_faulty_predictor_errors_are_counted_on_its_own_series(realiser, model_dirs):
    await realiser.apply(sdep(Predictor("stable", uri(model_dirs["stable"]), 50),
                              Predictor("faulty", uri(model_dirs["faulty"]), 50)))
    status = await realiser.recorder.wait_state(NS, NAME, {"Available", "Failed"})
    assert status["state"] == "Available", status
    splitter = realiser.get(NS, NAME).splitter
    n = 200
    summary = await send_traffic_async(status["address"]["url"], breast_cancer_frame(), n, 4,
                                       features=FEATURES, progress=None)
    faulty_requests = counter(splitter, "mlops_splitter_requests_total", "faulty")
    faulty_errors = counter(splitter, "mlops_splitter_errors_total", "faulty")
    assert faulty_requests == summary.per_predictor["faulty"] > 0
    assert faulty_errors == faulty_requests // 2  # the runtime fails exactly every second request
    assert counter(splitter, "mlops_splitter_errors_total", "stable") == 0
    assert counter(splitter, "mlops_splitter_requests_total", "stable") == summary.per_predictor["stable"]
    assert summary.status_codes.get(500, 0) == faulty_errors
    assert summary.errors == faulty_errors


async def test_failures_are_reported_like_seldon(realiser, model_dirs, tmp_path):
    """A predictor that cannot load fails the deployment; one we cannot fetch fails at once."""
    realiser._ready_deadline = 60
    await realiser.apply(sdep(Predictor("stable", uri(model_dirs["stable"]), 90),
                              Predictor("broken", uri(model_dirs["broken"]), 10)))
    status = await realiser.recorder.wait_state(NS, NAME, {"Failed"}, timeout=120)
    assert "predictor broken" in status["description"]
    assert status["deploymentStatus"]["iris-broken-0-model"]["availableReplicas"] == 0
    assert errors_of(peer_validator("status"), status) == []

    await realiser.apply(seldon_deployment(NS, "remote", Predictor("stable", "s3://bucket/model", 100)))
    status = await realiser.recorder.wait_state(NS, "remote", {"Failed"}, timeout=10)
    assert "file:// URIs only" in status["description"]


async def test_delete_stops_processes_and_splitter(realiser, model_dirs):
    await realiser.apply(sdep(Predictor("stable", uri(model_dirs["stable"]), 100)))
    status = await realiser.recorder.wait_state(NS, NAME, {"Available", "Failed"})
    assert status["state"] == "Available", status
    pid = realiser.get(NS, NAME).pids()["stable"]
    await realiser.delete(NS, NAME)
    assert realiser.get(NS, NAME) is None
    assert not group_alive(pid)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(f"{status['address']['url']}/v2/health/live"):
                pass


async def test_model_servers_die_with_a_killed_controller(model_dirs, tmp_path):
    """If the controller's process is SIGKILLed (no chance to stop anything), MLServer follows it."""
    import signal
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from mlops_operator.serving.model_server import ModelServer\n"
        f"s = ModelServer({uri(model_dirs['stable'])!r}, 'model', Path({str(tmp_path / 'orphan')!r}))\n"
        "s.start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert group_alive(pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    await wait_until(lambda: not group_alive(pid), timeout=30, what="the orphaned MLServer to exit")


async def test_a_predictor_process_that_dies_is_restarted_and_says_why_meanwhile(realiser, model_dirs):
    """As a ReplicaSet restarts a crashed pod: the status names the crash until the new process is ready."""
    import signal

    await realiser.apply(sdep(Predictor("stable", uri(model_dirs["stable"]), 100)))
    status = await realiser.recorder.wait_state(NS, NAME, {"Available", "Failed"})
    assert status["state"] == "Available", status
    pid = realiser.get(NS, NAME).pids()["stable"]
    os.killpg(pid, signal.SIGKILL)
    status = await realiser.recorder.wait_state(NS, NAME, {"Creating"}, timeout=30)
    assert "stable: MLServer exited with code -9 (restart 1)" in status["description"]
    predictor = status["deploymentStatus"]["iris-stable-0-model"]
    assert predictor["availableReplicas"] == 0 and "exited with code -9" in predictor["description"]
    status = await realiser.recorder.wait_state(NS, NAME, {"Available"}, timeout=60)
    assert realiser.get(NS, NAME).pids()["stable"] != pid
    assert "description" not in status["deploymentStatus"]["iris-stable-0-model"]
