"""Lifecycles: `python -m mlops_operator.embedded` as a real process, and the threaded server's cleanup."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import yaml

from mlops_operator.embedded import ThreadedAPIServer


def test_standalone_server_process(tmp_path, crd_files, make_kubectl) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen([sys.executable, "-m", "mlops_operator.embedded", "--kubeconfig", str(kubeconfig),
                                "--apply", *map(str, crd_files)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()
        assert "embedded Kubernetes API serving at http://127.0.0.1:" in line, process.stderr.read()
        url = line.rsplit(" ", 1)[-1].strip()
        assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url
        assert "mlprojects" in make_kubectl(kubeconfig)("api-resources", "--api-group=mlops.dev").stdout
    finally:
        process.terminate()
        started = time.monotonic()
        process.communicate(timeout=20)
    assert process.returncode == 0 and time.monotonic() - started < 20


def test_threaded_server_cleans_up_when_its_port_is_taken() -> None:
    with ThreadedAPIServer() as first:
        before = set(threading.enumerate())
        with pytest.raises(OSError):
            with ThreadedAPIServer(port=first.port):
                pass
        assert set(threading.enumerate()) == before
