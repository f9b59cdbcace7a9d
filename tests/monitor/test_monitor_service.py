"""The monitor as a real process over HTTP: records, labels, joins, auth, bad input, metrics, export."""
from __future__ import annotations

import io
import json

import time
from pathlib import Path

import pandas as pd
import pytest
import requests

from mlops_components import datasets, schema_check
from monitor_process import MonitorProcess, new_id, v2_request, v2_response


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None when absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


def _wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _predict(m: MonitorProcess, request_id: str, x: float, colour: str, answer, **kw) -> None:
    for kind, body in (("request", v2_request({"x": x, "colour": colour})), ("response", v2_response(answer))):
        resp = m.log_event(kind, body, request_id=request_id, **kw)
        assert resp.status_code == 201, resp.text


def test_records_join_labels_per_predictor_with_shadow_pairs(monitor: MonitorProcess, model_dir: Path):
    uri = model_dir.resolve().as_uri()
    ids = [new_id() for _ in range(4)]
    for i, rid in enumerate(ids):
        _predict(monitor, rid, float(i * 30), "red", 1, model_uri=uri, model_version="v1")
        _predict(monitor, rid, float(i * 30), "red", i % 2, predictor="candidate", shadow=True,
                 model_uri=uri, model_version="v2")
    resp = monitor.post_json("/feedback", [{"requestId": rid, "label": 1} for rid in ids[:2]])
    assert resp.status_code == 200, resp.text
    assert resp.json()["accepted"] == ids[:2] and resp.json()["unknown"] == []

    summary = monitor.summary(pairs=10)
    stable, shadow = summary["predictors"]["stable"], summary["predictors"]["candidate"]
    assert (stable["records"], stable["labelled"], stable["correct"], stable["incorrect"]) == (4, 2, 2, 0)
    # the shadow answered 0 then 1 for the two labelled requests (label 1): one right, one wrong
    assert (shadow["records"], shadow["labelled"], shadow["correct"], shadow["incorrect"]) == (4, 2, 1, 1)
    assert shadow["shadow"] is True and stable["shadow"] is False
    assert stable["modelVersions"] == ["v1"] and shadow["modelVersions"] == ["v2"]
    pairs = {p["requestId"]: p for p in summary["pairs"]}
    assert set(pairs) == set(ids)
    assert pairs[ids[0]]["stable"]["predictions"] == [1]
    assert pairs[ids[0]]["shadow"][0]["predictions"] == [0]
    assert pairs[ids[0]]["label"] == 1 and pairs[ids[3]]["label"] is None

    text = requests.get(monitor.url + "/metrics", timeout=10).text  # no token needed
    sel = dict(namespace="team-a", deployment="iris", predictor="stable")
    assert sample(text, "mlops_monitor_records_total", **sel) == 4
    assert sample(text, "mlops_monitor_labelled_total", **sel) == 2
    assert sample(text, "mlops_monitor_labelled_rows_total", outcome="correct", **sel) == 2
    assert sample(text, "mlops_monitor_labelled_rows_total", outcome="incorrect", predictor="candidate",
                  **{k: v for k, v in sel.items() if k != "predictor"}) == 1
    assert sample(text, "mlops_monitor_predictions_total", **{"class": "1"}, **sel) == 4
    # x = 0, 30, 60, 90 against the deciles of 0..99: bins 0, 3, 6, 9 (interior edges 9.9, 19.8, ...)
    for b in ("0", "3", "6", "9"):
        assert sample(text, "mlops_monitor_feature_bin_total", feature="x", bin=b, **sel) == 1
    assert sample(text, "mlops_monitor_feature_bin_total", feature="colour", bin="red", **sel) == 4
    assert sample(text, "mlops_monitor_unbinned_total", **sel) == 0


def test_labels_are_idempotent_and_a_correction_replaces(monitor: MonitorProcess):
    rid = new_id()
    _predict(monitor, rid, 1.0, "red", 1)
    assert monitor.post_json("/feedback", {"requestId": rid, "label": 0}).json()["accepted"] == [rid]
    before = monitor.summary()["predictors"]["stable"]
    again = monitor.post_json("/feedback", {"requestId": rid, "label": 0}).json()
    assert again["unchanged"] == [rid] and again["accepted"] == [] and again["replaced"] == []
    assert monitor.summary()["predictors"]["stable"] == before
    assert (before["labelled"], before["correct"], before["incorrect"]) == (1, 0, 1)
    fixed = monitor.post_json("/feedback", {"requestId": rid, "label": 1}).json()
    assert fixed["replaced"] == [{"requestId": rid, "previous": 0, "label": 1}]
    after = monitor.summary()["predictors"]["stable"]
    assert (after["labelled"], after["correct"], after["incorrect"]) == (1, 1, 0)
    # a resent event is acknowledged but not counted twice
    resend = monitor.log_event("request", v2_request({"x": 1.0, "colour": "red"}), request_id=rid)
    assert resend.status_code == 200 and resend.json()["stored"] is False
    assert monitor.summary()["predictors"]["stable"]["records"] == 1


def test_a_label_before_its_prediction_is_kept_and_joins_later(monitor: MonitorProcess):
    rid = new_id()
    early = monitor.post_json("/feedback", {"requestId": rid, "label": 1}).json()
    assert early["unknown"] == [rid] and early["accepted"] == [rid] and "note" in early
    _predict(monitor, rid, 5.0, "blue", 1)
    stable = monitor.summary()["predictors"]["stable"]
    assert (stable["labelled"], stable["correct"]) == (1, 1)


def test_bulk_labels_from_csv_and_parquet(monitor: MonitorProcess):
    ids = [new_id() for _ in range(4)]
    for rid in ids:
        _predict(monitor, rid, 1.0, "red", 1)
    csv = "requestId,label\n" + "".join(f"{rid},1\n" for rid in ids[:2])
    resp = requests.post(monitor.url + "/feedback", data=csv, headers={**monitor.auth(), "Content-Type": "text/csv"}, timeout=30)
    assert resp.status_code == 200 and resp.json()["accepted"] == ids[:2], resp.text
    buf = io.BytesIO()
    pd.DataFrame({"requestId": ids[2:], "label": [0, 0]}).to_parquet(buf, index=False)
    resp = requests.post(monitor.url + "/feedback?format=parquet", data=buf.getvalue(), headers=monitor.auth(), timeout=30)
    assert resp.status_code == 200 and resp.json()["accepted"] == ids[2:], resp.text
    stable = monitor.summary()["predictors"]["stable"]
    assert (stable["labelled"], stable["correct"], stable["incorrect"]) == (4, 2, 2)


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_without_valid_credentials_everything_is_refused_and_nothing_changes(monitor: MonitorProcess, token: str):
    rid = new_id()
    _predict(monitor, rid, 1.0, "red", 1)
    before = monitor.summary()
    other = new_id()
    refused = [
        monitor.log_event("request", v2_request({"x": 2.0}), request_id=other, token=token),
        monitor.post_json("/feedback", {"requestId": rid, "label": 1}, token=token),
        monitor.post_json("/export", {"namespace": "team-a", "deployment": "iris", "includeUnlabelled": True}, token=token),
        requests.get(monitor.url + "/summary?namespace=team-a&deployment=iris",
                     headers=monitor.auth(token) if token else {}, timeout=10),
    ]
    for resp in refused:
        assert resp.status_code == 401, resp.text
        assert resp.json()["field"] == "Authorization"
    assert monitor.summary() == before
    assert not (monitor.data_dir / "exports").exists()
    assert requests.get(monitor.url + "/healthz", timeout=10).status_code == 200


def test_malformed_input_gets_4xx_naming_the_field_and_the_service_keeps_serving(monitor: MonitorProcess):
    from mlops_operator.monitor import cloudevents as ce

    cases = [
        (monitor.log_event("request", None, request_id=new_id(), raw=b"{not json"), "body"),
        (monitor.log_event("request", v2_request({"x": 1}), request_id=new_id(), drop=(ce.REQUEST_ID,)), ce.REQUEST_ID),
        (monitor.log_event("request", v2_request({"x": 1}), request_id=new_id(), drop=(ce.TYPE,)), ce.TYPE),
        (monitor.log_event("request", v2_request({"x": 1}), request_id=new_id(), namespace="../etc"), ce.NAMESPACE),
        (monitor.log_event("request", [1, 2], request_id=new_id()), "body"),
        (monitor.log_event("request", None, request_id=new_id(), raw=b'{"inputs": "' + b"x" * (1024 * 1024) + b'"}'), "body"),
        (monitor.post_json("/feedback", {"label": 1}), "body.requestId"),
        (monitor.post_json("/feedback", [{"requestId": "a", "label": 1}, {"requestId": "b", "label": {"x": 1}}]), "body[1].label"),
        (monitor.post_json("/feedback", {"requestId": "a"}), "body.label"),
        (monitor.post_json("/feedback", {"requestId": "a", "label": None}), "body.label"),
        (requests.post(monitor.url + "/feedback", data=b"[{", headers=monitor.auth(), timeout=10), "body"),
        (requests.post(monitor.url + "/feedback", data="id,label\nx,1\n", headers={**monitor.auth(), "Content-Type": "text/csv"}, timeout=10), "requestId"),
        (monitor.post_json("/export", {"namespace": "team-a"}), "deployment"),
        (monitor.post_json("/export", {"namespace": "team-a", "deployment": "iris", "format": "xlsx"}), "format"),
    ]
    for i, (resp, field) in enumerate(cases):
        assert 400 <= resp.status_code < 500, (i, resp.status_code, resp.text)
        assert resp.json()["field"] == field, (i, resp.text)
        assert resp.json()["error"]
    oversized = cases[5][0]
    assert oversized.status_code == 413
    summary = monitor.summary()
    assert summary["predictors"] == {} and summary["labels"] == 0  # nothing partial was kept
    rid = new_id()
    _predict(monitor, rid, 1.0, "red", 1)
    assert monitor.summary()["predictors"]["stable"]["records"] == 1
    text = requests.get(monitor.url + "/metrics", timeout=10).text
    assert sample(text, "mlops_monitor_refused_total", namespace="team-a", deployment="iris", predictor="stable",
                  reason="Ce-Requestid") == 1


def test_export_is_a_dataset_the_training_components_accept(monitor: MonitorProcess):
    ids = [new_id() for _ in range(6)]
    for i, rid in enumerate(ids):
        _predict(monitor, rid, float(i), "red" if i % 2 else "blue", i % 2)
        _predict(monitor, rid, float(i), "red" if i % 2 else "blue", 0, predictor="candidate", shadow=True)
    monitor.post_json("/feedback", [{"requestId": rid, "label": i % 2} for i, rid in enumerate(ids[:4])])
    for fmt in ("csv", "parquet"):
        resp = monitor.post_json("/export", {"namespace": "team-a", "deployment": "iris", "target": "y", "format": fmt})
        assert resp.status_code == 201, resp.text
        out = resp.json()
        frame = datasets.load(out["uri"], fmt, "y")
        assert out["digest"] == datasets.digest(frame)  # what ingest records as the dataset digest
        assert sorted(frame.columns) == ["colour", "x", "y"] and len(frame) == 4 == out["rows"]
        assert sorted(zip(frame["x"], frame["y"])) == [(0.0, 0), (1.0, 1), (2.0, 0), (3.0, 1)]
        schema = [{"name": "x", "type": "float", "min": 0, "max": 10}, {"name": "colour", "type": "category",
                                                                         "categories": ["red", "blue"]},
                  {"name": "y", "type": "int", "min": 0, "max": 1}]
        assert not schema_check.check(frame, schema, "y")  # no problems
    everything = monitor.post_json("/export", {"namespace": "team-a", "deployment": "iris", "target": "y",
                                               "includeUnlabelled": True}).json()
    assert everything["rows"] == 6 and everything["labelled"] == 4
    window = monitor.post_json("/export", {"namespace": "team-a", "deployment": "iris", "target": "y",
                                           "since": time.time() + 3600})
    assert window.status_code == 400


def test_export_mixes_in_the_training_data_when_asked(monitor: MonitorProcess, tmp_path: Path):
    ids = [new_id() for _ in range(3)]
    for i, rid in enumerate(ids):
        _predict(monitor, rid, 10.0 + i, "red", 1, deployment="mix")
    monitor.post_json("/feedback", [{"requestId": rid, "label": 1} for rid in ids])
    training = tmp_path / "train.csv"
    training.write_text("x,colour,y,extra\n1.5,blue,0,a\n2.5,red,1,b\n")
    resp = monitor.post_json("/export", {"namespace": "team-a", "deployment": "mix", "target": "y",
                                         "mixWith": {"uri": str(training), "format": "csv"}})
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert (out["rows"], out["liveRows"], out["labelled"], out["mixedRows"]) == (5, 3, 3, 2)
    frame = datasets.load(out["uri"], "csv", "y")
    assert out["digest"] == datasets.digest(frame) and sorted(frame.columns) == ["colour", "x", "y"]
    assert sorted(frame["x"]) == [1.5, 2.5, 10.0, 11.0, 12.0]
    for bad, field in (({"format": "csv"}, "mixWith.uri"), ({"uri": str(tmp_path / "none.csv")}, "mixWith.uri"),
                       ({"uri": str(training), "format": "xml"}, "mixWith.format")):
        refused = monitor.post_json("/export", {"namespace": "team-a", "deployment": "mix", "target": "y",
                                                "mixWith": bad})
        assert refused.status_code == 400 and refused.json()["field"] == field, refused.text
    training.write_text("x,y\n1.5,0\n")
    lacking = monitor.post_json("/export", {"namespace": "team-a", "deployment": "mix", "target": "y",
                                            "mixWith": {"uri": str(training)}})
    assert lacking.status_code == 400 and "lacks the columns colour" in lacking.json()["error"]


def test_records_are_compacted_to_parquet_partitions_and_survive_restart(tmp_path: Path, token_file: Path):
    m = MonitorProcess(tmp_path / "data", token_file, "--compact-interval", "0.2").start()
    try:
        ids = [new_id() for _ in range(3)]
        for rid in ids:
            _predict(m, rid, 1.0, "red", 1)
        m.post_json("/feedback", [{"requestId": ids[0], "label": 1}])
        base = tmp_path / "data" / "records" / "namespace=team-a" / "deployment=iris" / "predictor=stable"
        files = _wait_for(lambda: list(base.glob("hour=*/part-*.parquet")), what="a Parquet partition")
        import pyarrow.parquet as pq

        _wait_for(lambda: sum(pq.read_table(f).num_rows for f in base.glob("hour=*/part-*.parquet")) == 3,
                  what="3 rows in Parquet")
        assert files[0].parent.name == "hour=" + time.strftime("%Y%m%d%H", time.gmtime())
        _wait_for(lambda: list((tmp_path / "data" / "labels").glob("hour=*/part-*.parquet")), what="labels in Parquet")
        assert m.stop() == 0
        m.start()
        stable = m.summary()["predictors"]["stable"]
        assert (stable["records"], stable["labelled"], stable["correct"]) == (3, 1, 1)
    finally:
        m.kill()


def test_retention_removes_old_hour_partitions(tmp_path: Path, token_file: Path):
    m = MonitorProcess(tmp_path / "data", token_file, "--retention-hours", "2").start()
    try:
        _predict(m, new_id(), 1.0, "red", 1)
        assert m.stop() == 0  # compacts on the way out
        base = tmp_path / "data" / "records" / "namespace=team-a" / "deployment=iris" / "predictor=stable"
        [current] = list(base.glob("hour=*"))
        old = base / "hour=2020010100"
        old.mkdir()
        for f in current.glob("*.parquet"):
            (old / f.name).write_bytes(f.read_bytes())  # a copy, as if recorded in 2020
        import pyarrow.parquet as pq
        import pyarrow as pa

        table = pq.read_table(next(old.glob("*.parquet")))
        table = table.set_column(table.schema.get_field_index("time"), "time", pa.array([1577836800.0]))
        table = table.set_column(table.schema.get_field_index("request_id"), "request_id", pa.array(["old-one"]))
        pq.write_table(table, next(old.glob("*.parquet")))
        m.start()
        assert not old.exists()
        assert current.exists()
        assert m.summary()["predictors"]["stable"]["records"] == 1
    finally:
        m.kill()


def test_batched_events_are_stored_together_and_a_bad_one_refuses_the_batch(monitor: MonitorProcess):
    from mlops_operator.monitor import cloudevents as ce

    def event(kind, rid, body, **kw):
        hdrs = ce.headers(kind, request_id=rid, namespace="team-a", deployment="iris", predictor="stable", **kw)
        return json.loads(ce.structured(hdrs, json.dumps(body).encode()))

    ids = [new_id() for _ in range(3)]
    batch = [e for rid in ids for e in (event("request", rid, v2_request({"x": 1.0})), event("response", rid, v2_response(1)))]
    headers = {**monitor.auth(), "Content-Type": ce.BATCH_CONTENT_TYPE}
    resp = requests.post(monitor.url + "/log", data=json.dumps(batch), headers=headers, timeout=10)
    assert resp.status_code == 201 and resp.json() == {"events": 6, "stored": 6}, resp.text
    bad = [event("request", new_id(), v2_request({"x": 2.0})), {**event("request", new_id(), {}), "requestid": ""}]
    resp = requests.post(monitor.url + "/log", data=json.dumps(bad), headers=headers, timeout=10)
    assert resp.status_code == 400 and resp.json()["field"] == "[1].Ce-Requestid", resp.text
    stable = monitor.summary()["predictors"]["stable"]
    assert (stable["records"], stable["responses"]) == (3, 3)  # nothing of the refused batch


def test_seldon_events_on_the_token_free_log_port_take_model_and_shadow_from_the_url(tmp_path: Path, token_file: Path,
                                                                                      model_dir: Path):
    """What Seldon's executor sends on a cluster: its own headers only, no token, to graph.logger.url."""
    from urllib.parse import urlencode

    from mlops_operator.decisions.seldon import Predictor, desired_seldon_deployment
    from mlops_operator.monitor import cloudevents as ce

    m = MonitorProcess(tmp_path / "data", token_file, "--log-port", "0").start()
    try:
        assert m.log_url.endswith("/log") and m.log_url != m.url + "/log"
        owner = {"apiVersion": "mlops.dev/v1alpha1", "kind": "ModelDeployment", "name": "iris", "uid": "u"}
        sdep = desired_seldon_deployment("iris", "team-a", [
            Predictor("stable", model_dir.as_uri(), 100), Predictor("candidate", model_dir.as_uri(), 100, shadow=True)],
            owner=owner, logger_url=m.log_url)
        urls = {p["name"]: p["graph"]["logger"]["url"] for p in sdep["spec"]["predictors"]}
        rid = new_id()
        for predictor, url in urls.items():
            for kind, body in (("request", v2_request({"x": 50.0, "colour": "blue"})), ("response", v2_response(1))):
                resp = m.log_event(kind, body, request_id=rid, predictor=predictor, token="", url=url,
                                   drop=(ce.TIME,))  # no Authorization, no Ce-Modeluri / Ce-Shadow
                assert resp.status_code == 201, resp.text
        summary = m.summary(pairs=5)
        assert summary["predictors"]["candidate"]["shadow"] is True
        assert summary["predictors"]["stable"]["shadow"] is False
        assert summary["pairs"][0]["requestId"] == rid
        text = requests.get(m.url + "/metrics", timeout=10).text
        assert sample(text, "mlops_monitor_feature_bin_total", namespace="team-a", deployment="iris",
                      predictor="stable", feature="x", bin="5") == 1  # the reference from the URL's modeluri
        # the token-free port serves nothing else, and the main port still wants the token
        assert requests.get(m.log_url.rsplit("/", 1)[0] + "/summary?namespace=team-a&deployment=iris",
                            timeout=10).status_code in (404, 405)
        assert m.log_event("request", v2_request({"x": 1.0}), request_id=new_id(), token="").status_code == 401
        assert urlencode({"shadow": "true"}) in urls["candidate"]
    finally:
        m.kill()


def test_regression_labels_add_up_errors(monitor: MonitorProcess):
    ids = [new_id() for _ in range(3)]
    for rid, pred in zip(ids, (2.5, 4.0, 10.25)):
        for kind, body in (("request", v2_request({"x": 1.0})),
                           ("response", {"outputs": [{"name": "predict", "datatype": "FP64", "shape": [1], "data": [pred]}]})):
            assert monitor.log_event(kind, body, request_id=rid).status_code == 201
    monitor.post_json("/feedback", [{"requestId": ids[0], "label": 2.0}, {"requestId": ids[1], "label": 5.0}])
    stable = monitor.summary()["predictors"]["stable"]
    assert stable["labelled"] == 2
    assert stable["errorSum"] == pytest.approx(0.5 - 1.0)
    assert stable["absErrorSum"] == pytest.approx(1.5)
    assert stable["squaredErrorSum"] == pytest.approx(0.25 + 1.0)
    text = requests.get(monitor.url + "/metrics", timeout=10).text
    sel = dict(namespace="team-a", deployment="iris", predictor="stable")
    assert sample(text, "mlops_monitor_prediction_score_bucket", le="+Inf", **sel) == 3
    assert sample(text, "mlops_monitor_prediction_score_bucket", le="10.0", **sel) == 2
    assert sample(text, "mlops_monitor_squared_error_sum", **sel) == pytest.approx(1.25)
