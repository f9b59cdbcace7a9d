"""The monitor's records and labels also go to object storage (`--archive-root`), through the one storage
layer, against a real S3-compatible server (moto); a store that is down delays the archive, never the monitor."""
from __future__ import annotations

import io
import time

import pyarrow.parquet as pq

from mlops_components import locations
from mlops_components.locations import S3Config
from monitor_process import MonitorProcess, new_id, v2_request, v2_response
from tests.storage import s3server


def _until(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def test_parquet_files_are_archived_and_a_missing_bucket_is_caught_up(tmp_path, token_file, monkeypatch):
    with s3server.running(tmp_path / "moto.log") as s3:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_access_key)
        monkeypatch.setenv("MLOPS_S3_ENDPOINT", s3.endpoint)
        m = MonitorProcess(tmp_path / "data", token_file, "--compact-interval", "0.2",
                           "--archive-root", "s3://archive/monitor").start()
        try:
            ids = [new_id() for _ in range(3)]
            for rid in ids:  # the bucket does not exist yet: compaction goes on, the archive waits
                for kind, body in (("request", v2_request({"x": 1.0})), ("response", v2_response(1))):
                    assert m.log_event(kind, body, request_id=rid).status_code == 201
            m.post_json("/feedback", [{"requestId": ids[0], "label": 1}])
            local = tmp_path / "data"
            _until(lambda: list(local.glob("labels/hour=*/part-*.parquet")), "local Parquet files")
            assert m.summary()["predictors"]["stable"]["records"] == 3
            s3.make_bucket("archive")
            keys = _until(lambda: s3.keys("archive"), "the archive to catch up")
            expected = {f"monitor/{p.relative_to(local).as_posix()}" for p in local.glob("*/**/part-*.parquet")}
            _until(lambda: set(s3.keys("archive")) == expected, f"all of {sorted(expected)} archived, not {keys}")
            config = S3Config(endpoint=s3.endpoint, access_key_id=s3.access_key_id,
                              secret_access_key=s3.secret_access_key)
            record_key = next(k for k in expected if "/records/namespace=team-a/deployment=iris/" in k)
            table = pq.read_table(io.BytesIO(locations.read_bytes(f"s3://archive/{record_key}", config)))
            assert set(table.column("request_id").to_pylist()) == set(ids)
            assert s3.secret_access_key not in "".join(m.output)
        finally:
            m.kill()
