"""`make run` brings the monitor up: a subprocess with its token beside the kubeconfig, known to the
local controller (which logs to it) and stopped with everything else."""
from __future__ import annotations

import pytest
import requests

from mlops_operator.devcluster import dev_cluster

pytestmark = pytest.mark.e2e


async def test_dev_cluster_starts_and_stops_the_monitor(tmp_path):
    async with dev_cluster(tmp_path / "dev", examples=None) as cluster:
        token_file = cluster.kubeconfig.parent / "monitor-token"
        assert cluster.monitor_token_file == token_file and token_file.stat().st_mode & 0o077 == 0
        token = token_file.read_text().strip()
        url = cluster.monitor_url
        ok = requests.get(f"{url}/summary", params={"namespace": "default", "deployment": "x"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["predictors"] == {}
        assert requests.get(f"{url}/summary", params={"namespace": "default", "deployment": "x"},
                            timeout=10).status_code == 401
        assert cluster.controller.realiser._log_url == f"{url}/log"
        monitor = cluster.monitor
    assert monitor.returncode == 0  # stopped cleanly (SIGTERM), after compacting
