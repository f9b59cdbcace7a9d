"""A real Prometheus server (Debian's `prometheus`) scrapes the monitor: the series are usable in PromQL,
per predictor, as the release decisions will read them."""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))

from monitor_process import MonitorProcess, new_id, v2_request, v2_response  # noqa: E402
from test_prometheus_provider import prom_value, start_prometheus  # noqa: E402

pytestmark = pytest.mark.e2e


async def test_prometheus_reads_labelled_counts_per_predictor(monitor: MonitorProcess, tmp_path):
    answers = {"stable": [1, 1, 0, 1], "candidate": [0, 0, 0, 1]}
    ids = [new_id() for _ in range(4)]
    for predictor, preds in answers.items():
        for rid, pred in zip(ids, preds):
            for kind, body in (("request", v2_request({"x": 1.0})), ("response", v2_response(pred))):
                resp = await asyncio.to_thread(monitor.log_event, kind, body, request_id=rid, predictor=predictor,
                                               shadow=predictor == "candidate")
                assert resp.status_code == 201
    await asyncio.to_thread(monitor.post_json, "/feedback", [{"requestId": rid, "label": 1} for rid in ids])

    proc, url = start_prometheus(tmp_path, {"mlops-monitor": monitor.url.removeprefix("http://")})
    try:
        accuracy = ('sum by (predictor) (mlops_monitor_labelled_rows_total{deployment="iris",outcome="correct"})'
                    ' / sum by (predictor) (mlops_monitor_labelled_rows_total{deployment="iris"})')
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if await prom_value(url, 'mlops_monitor_labelled_total{predictor="candidate"}') == 4:
                    break
            except OSError:  # Prometheus still starting
                pass
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("Prometheus never scraped the monitor's labelled counts")
        assert await prom_value(url, 'mlops_monitor_records_total{deployment="iris",predictor="stable"}') == 4
        assert await prom_value(url, accuracy + ' and on(predictor) '
                                     'label_replace(vector(1), "predictor", "stable", "", "")') == 0.75
        assert await prom_value(url, accuracy + ' and on(predictor) '
                                     'label_replace(vector(1), "predictor", "candidate", "", "")') == 0.25
        assert await prom_value(url, 'mlops_monitor_predictions_total{predictor="candidate",class="0"}') == 3
    finally:
        proc.terminate()
        proc.wait(30)
