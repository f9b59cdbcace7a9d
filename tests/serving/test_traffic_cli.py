"""The traffic command: real requests through a real splitter to upstreams decoding them with
MLServer's own pandas codec, so the request shape is checked by the code that serves models."""
from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest
from aiohttp import web
from mlserver.codecs import PandasCodec
from mlserver.types import InferenceRequest

from mlops_operator.serving.splitter import Route, TrafficSplitter
from mlops_operator.serving.traffic import main, read_signature_features, send_traffic_async, v2_request_for_row
from tests.local_http import serve


@pytest.fixture
async def decoding_upstreams():
    """Two predictors that decode each request into a DataFrame and keep it."""
    seen: dict[str, list[pd.DataFrame]] = {"a": [], "b": []}
    runners, urls = [], {}
    for name in seen:
        async def infer(request, name=name):
            frame = PandasCodec.decode_request(InferenceRequest(**await request.json()))
            seen[name].append(frame)
            return web.json_response({"model_name": "model", "outputs": [
                {"name": "predict", "shape": [1], "datatype": "INT64", "data": [len(frame.columns)]}]})

        app = web.Application()
        app.router.add_post("/v2/models/{model}/infer", infer)
        runner, urls[name] = await serve(app)
        runners.append(runner)
    yield urls, seen
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def splitter(decoding_upstreams):
    urls, _ = decoding_upstreams
    s = TrafficSplitter("ml", "penguins")
    await s.start()
    s.configure([Route("a", urls["a"], 50), Route("b", urls["b"], 50)])
    yield s
    await s.stop()


async def test_penguin_rows_arrive_as_typed_dataframes(splitter, decoding_upstreams):
    _, seen = decoding_upstreams
    summary = await send_traffic_async(splitter.url, "palmerpenguins", 30, 3, progress=None)
    assert summary.sent == 30 and summary.ok == 30 and summary.errors == 0
    assert set(summary.per_predictor) <= {"a", "b"} and sum(summary.per_predictor.values()) == 30
    assert len(seen["a"]) == summary.per_predictor.get("a", 0)
    frames = seen["a"] + seen["b"]
    assert len(frames) == 30
    first = frames[0]
    assert "species" not in first.columns  # the target is not sent
    assert {"island", "bill_length_mm", "sex", "year"} <= set(first.columns)
    assert isinstance(first["island"].iloc[0], str)
    assert pd.api.types.is_float_dtype(first["bill_length_mm"])
    assert pd.api.types.is_integer_dtype(first["year"])


def test_request_shape_is_one_input_per_column():
    frame = pd.DataFrame({"x": [1.5], "n": [3], "s": ["a"], "b": [True]})
    body = v2_request_for_row(frame, 0)
    assert body["parameters"] == {"content_type": "pd"}
    assert [(i["name"], i["datatype"], i["data"], i["shape"]) for i in body["inputs"]] == [
        ("x", "FP64", [1.5], [1]), ("n", "INT64", [3], [1]), ("s", "BYTES", ["a"], [1]), ("b", "BOOL", [True], [1])]
    assert body["inputs"][2]["parameters"] == {"content_type": "str"}
    json.dumps(body)  # plain JSON, no numpy scalars


async def test_cli_main_prints_a_summary(splitter, decoding_upstreams, tmp_path, capsys):
    signature = tmp_path / "signature.json"
    signature.write_text(json.dumps({"features": [{"name": "mean radius"}, {"name": "mean texture"}],
                                     "target": "target"}))
    assert read_signature_features(tmp_path) == ["mean radius", "mean texture"]
    code = await asyncio.to_thread(main, [splitter.url, "--dataset", "sklearn:breast_cancer", "-n", "12", "-c", "2",
                                          "--signature", str(signature)])
    out = capsys.readouterr()
    assert code == 0
    assert "sent 12, ok 12, errors 0" in out.out
    assert "answered by:" in out.out and "12/12 sent" in out.err
    _, seen = decoding_upstreams
    assert all(list(f.columns) == ["mean radius", "mean texture"] for f in seen["a"] + seen["b"])


def test_cli_rejects_bad_input(capsys):
    assert main(["http://127.0.0.1:9", "--dataset", "sklearn:breast_cancer", "--features", "nope"]) == 2
    assert "features: columns ['nope']" in capsys.readouterr().err
    assert main(["http://127.0.0.1:9", "-c", "0"]) == 2
    assert "concurrency" in capsys.readouterr().err
