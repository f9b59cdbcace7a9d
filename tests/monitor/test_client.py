"""What the operator's handler calls: per-arm counts from a real monitor, and None when it cannot ask."""
from __future__ import annotations

from monitor_process import MonitorProcess, new_id, v2_request, v2_response

from mlops_operator.monitor import client


async def test_arm_counts_from_a_running_monitor(monitor: MonitorProcess, tmp_path):
    ids = [new_id() for _ in range(3)]
    for i, rid in enumerate(ids):
        predictor = "iris-v1" if i < 2 else "iris-v2"
        for kind, body in (("request", v2_request({"x": 1.0})), ("response", v2_response(1))):
            assert monitor.log_event(kind, body, request_id=rid, predictor=predictor).status_code == 201
    monitor.post_json("/feedback", {"requestId": ids[0], "label": 1})

    cfg = client.MonitorConfig.from_env({client.ENV_URL: monitor.url + "/", client.ENV_TOKEN_FILE: str(monitor.token_file)})
    assert cfg.feedback_address == monitor.url + "/feedback" and cfg.logger_url == monitor.url + "/log"
    counts = await client.arm_counts(cfg, "team-a", "iris")
    assert counts == {"iris-v1": client.ArmCounts(2, 1), "iris-v2": client.ArmCounts(1, 0)}
    assert client.per_arm(counts, {"stable": "iris-v1", "candidate": "iris-v2"}) == {
        "stable": client.ArmCounts(2, 1), "candidate": client.ArmCounts(1, 0)}
    assert client.per_arm(counts, {"stable": "iris-v1", "candidate": None}) == {"stable": client.ArmCounts(2, 1)}

    wrong = tmp_path / "wrong-token"
    wrong.write_text("nope\n")
    assert await client.arm_counts(client.MonitorConfig(monitor.url, str(wrong)), "team-a", "iris") is None
    assert await client.arm_counts(client.MonitorConfig("http://127.0.0.1:9", ""), "team-a", "iris", timeout=2) is None
    assert await client.arm_counts(None, "team-a", "iris") is None
    assert client.MonitorConfig.from_env({}) is None
