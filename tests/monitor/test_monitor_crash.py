"""SIGKILL the monitor in the middle of a stream of logged requests and labels: after a restart,
every acknowledged record and label is there, and posting the same labels again changes nothing."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import requests

from monitor_process import MonitorProcess, new_id, v2_request, v2_response

LOGGERS = 3
TARGET_ACKED = 300
STREAM_TIMEOUT = 120.0


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path, token_file: Path):
    m = MonitorProcess(tmp_path / "data", token_file, "--compact-interval", "0.3").start()
    acked_records: dict[int, str] = {}  # x -> request id
    acked_labels: dict[str, int] = {}  # request id -> label
    lock = threading.Lock()
    stop = threading.Event()
    counter = iter(range(10**9))

    def log_requests() -> None:
        session = requests.Session()
        while not stop.is_set():
            with lock:
                x = next(counter)
            rid = new_id()
            try:
                r = m.log_event("request", v2_request({"x": float(x)}), request_id=rid, session=session)
                if r.status_code != 201:
                    continue
                with lock:
                    acked_records[x] = rid
                m.log_event("response", v2_response(x % 3), request_id=rid, session=session)
            except requests.RequestException:
                return

    def post_labels() -> None:
        session = requests.Session()
        while not stop.is_set():
            with lock:
                todo = [(x, rid) for x, rid in list(acked_records.items())[-20:] if rid not in acked_labels]
            if not todo:
                time.sleep(0.01)
                continue
            batch = [{"requestId": rid, "label": x % 3} for x, rid in todo]
            try:
                r = session.post(m.url + "/feedback", json=batch, headers=m.auth(), timeout=30)
            except requests.RequestException:
                return
            if r.status_code == 200:
                with lock:
                    acked_labels.update({rid: x % 3 for x, rid in todo})

    threads = [threading.Thread(target=log_requests) for _ in range(LOGGERS)] + [threading.Thread(target=post_labels)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + STREAM_TIMEOUT
        while time.monotonic() < deadline and (len(acked_records) < TARGET_ACKED or len(acked_labels) < TARGET_ACKED // 3):
            time.sleep(0.02)
        assert len(acked_records) >= TARGET_ACKED, "the stream was too slow to reach the kill point"
        m.kill()  # SIGKILL while the threads are still sending
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        m.kill()
    with lock:
        records, labels = dict(acked_records), dict(acked_labels)

    m.start()
    try:
        summary = m.summary()
        assert summary["predictors"]["stable"]["records"] >= len(records)
        assert summary["predictors"]["stable"]["labelled"] >= len(labels)
        resp = m.post_json("/export", {"namespace": "team-a", "deployment": "iris", "target": "y",
                                       "includeUnlabelled": True, "format": "parquet"})
        assert resp.status_code == 201, resp.text
        import pandas as pd

        frame = pd.read_parquet(resp.json()["uri"].removeprefix("file://"))
        exported = {int(x): y for x, y in zip(frame["x"], frame["y"])}
        missing = sorted(set(records) - set(exported))
        assert not missing, f"{len(missing)} acknowledged records lost, e.g. x={missing[:5]}"
        by_id = {rid: x for x, rid in records.items()}
        wrong = [rid for rid, label in labels.items() if exported[by_id[rid]] != label]
        assert not wrong, f"{len(wrong)} acknowledged labels lost or changed"

        again = m.post_json("/feedback", [{"requestId": rid, "label": label} for rid, label in labels.items()]).json()
        assert sorted(again["unchanged"]) == sorted(labels) and not again["accepted"] and not again["replaced"]
        assert m.summary()["predictors"] == summary["predictors"]
    finally:
        m.kill()
