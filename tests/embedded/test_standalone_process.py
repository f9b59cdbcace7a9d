"""`python -m mlops_operator.embedded` as a real process: serves, writes a kubeconfig, stops on SIGTERM."""
from __future__ import annotations

import subprocess
import sys
import time

from pathlib import Path

import pytest
import yaml
from embedded_helpers import CRD_FILES, KUBECTL, Kubectl


def test_standalone_server_process(tmp_path) -> None:
    if not Path(KUBECTL).exists():
        pytest.skip("kubectl is not installed (make debs installs kubernetes-client)")
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen([sys.executable, "-m", "mlops_operator.embedded", "--kubeconfig", str(kubeconfig),
                                "--apply", *map(str, CRD_FILES)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()
        assert "embedded Kubernetes API serving at http://127.0.0.1:" in line, process.stderr.read()
        url = line.rsplit(" ", 1)[-1].strip()
        assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url
        assert "mlprojects" in Kubectl(kubeconfig)("api-resources", "--api-group=mlops.dev").stdout
    finally:
        process.terminate()
        started = time.monotonic()
        process.communicate(timeout=20)
    assert process.returncode == 0 and time.monotonic() - started < 20
