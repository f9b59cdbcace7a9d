"""Bad inference payloads get a 4xx naming the input, are counted, and the splitter keeps serving."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local_http import serve  # noqa: E402
from test_splitter_logging import v2_server  # noqa: E402

from mlops_operator.serving.payload_check import check_request  # noqa: E402
from mlops_operator.serving.splitter import Route, TrafficSplitter  # noqa: E402

SIGNATURE = {"features": [{"name": "x", "type": "float"}, {"name": "n", "type": "int"},
                          {"name": "colour", "type": "category"}],
             "schema": [{"name": "colour", "type": "category", "nullable": True}]}


def _req(**inputs):
    return json.dumps({"inputs": [{"name": k, "shape": [len(v)], "datatype": "FP64", "data": v}
                                  for k, v in inputs.items()]}).encode()


def test_check_request_names_the_input():
    assert check_request(SIGNATURE, _req(x=[1.0], n=[2], colour=["red"])) is None
    assert check_request(SIGNATURE, _req(x=[1.0], n=[2.0], colour=[None])) is None  # integral float, nullable
    cases = {
        b"not json": ("body", "invalid-json"),
        b"[1, 2]": ("body", "invalid-json"),
        b"{}": ("inputs", "no-inputs"),
        _req(x=[1.0], n=[2]): ("colour", "missing-input"),
        _req(x=["a"], n=[2], colour=["red"]): ("x", "wrong-type"),
        _req(x=[True], n=[2], colour=["red"]): ("x", "wrong-type"),
        _req(x=[1.0], n=[2.5], colour=["red"]): ("n", "wrong-type"),
        _req(x=[None], n=[2], colour=["red"]): ("x", "wrong-type"),
        _req(x=[1.0, 2.0], n=[2, 3], colour=["red"], extra=[1]): ("colour", "wrong-shape"),
        _req(x=[1.0, 2.0], n=[2], colour=["red"]): ("n", "wrong-shape"),
        json.dumps({"inputs": [{"name": "x", "shape": [3], "data": [1.0]}]}).encode(): ("x", "wrong-shape"),
    }
    for body, (name, reason) in cases.items():
        problem = check_request(SIGNATURE, body)
        assert problem is not None and (problem.input, problem.reason) == (name, reason), (body, problem)
        assert problem.status == 400 and (name in problem.message or name == "inputs")
    assert check_request(None, _req(anything=["goes"])) is None


async def test_splitter_answers_bad_payloads_400_counts_them_and_keeps_serving(tmp_path: Path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "signature.json").write_text(json.dumps(SIGNATURE))
    runner, url = await serve(v2_server(1))
    splitter = TrafficSplitter("ns", "dep")
    await splitter.start()
    try:
        splitter.configure([Route("stable", url, 100, model_uri=model.as_uri())])
        async with aiohttp.ClientSession() as session:
            infer = f"{splitter.url}/v2/models/model/infer"
            async with session.post(infer, data=_req(x=["oops"], n=[1], colour=["red"])) as resp:
                assert resp.status == 400
                body = await resp.json()
                assert body["input"] == "x" and "'x'" in body["error"] and resp.headers["x-request-id"]
            async with session.post(infer, data=_req(x=[1.0], n=[1])) as resp:
                assert resp.status == 400 and (await resp.json())["input"] == "colour"
            for _ in range(3):
                async with session.post(infer, data=_req(x=[1.0], n=[1], colour=["red"])) as resp:
                    assert resp.status == 200
            async with session.get(f"{splitter.url}/metrics") as resp:
                metrics = await resp.text()
        assert 'mlops_splitter_rejected_total{deployment="dep",namespace="ns",predictor="stable",reason="wrong-type"} 1.0' in metrics
        assert 'reason="missing-input"} 1.0' in metrics
        assert 'mlops_splitter_requests_total{deployment="dep",namespace="ns",predictor="stable",role="primary"} 3.0' in metrics
    finally:
        await splitter.stop()
        await runner.cleanup()


def test_numpy_style_and_unknown_signature_types():
    signature = {"features": [{"name": "a", "type": "float64"}, {"name": "b", "type": "int32"},
                              {"name": "c", "type": "mystery"}]}
    assert check_request(signature, _req(a=[1.5], b=[2], c=[{"any": "thing"}])) is None
    assert check_request(signature, _req(a=["x"], b=[2], c=[1])).input == "a"
    assert check_request(signature, _req(a=[1.0], b=[2.5], c=[1])).input == "b"
