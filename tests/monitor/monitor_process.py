"""A real monitor process (`python -m mlops_operator.monitor`) for the tests, and tiny HTTP helpers."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from mlops_operator.monitor import cloudevents

START_TIMEOUT = 60.0


class MonitorProcess:
    def __init__(self, data_dir: Path, token_file: Path, *args: str):
        self.data_dir, self.token_file, self.args = data_dir, token_file, args
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log_url = ""
        self.output: list[str] = []

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    def start(self) -> "MonitorProcess":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlops_operator.monitor", "--data-dir", str(self.data_dir),
             "--token-file", str(self.token_file), "--port", "0", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith("monitor listening on "):
                self.url = line.split()[3]
                if "without token: " in line:
                    self.log_url = line.rsplit(" ", 1)[1].rstrip(")")
                return self
        self.kill()
        raise AssertionError("monitor did not start:\n" + "".join(self.output))

    def _pump(self, lines: queue.Queue) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.output.append(line)
            lines.put(line.strip())

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        return self.proc.returncode if self.proc else 0

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    # -- HTTP --------------------------------------------------------------------------------

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token if token is not None else self.token}"}

    def log_event(self, kind: str, body: Any, *, request_id: str, deployment: str = "iris", predictor: str = "stable",
                  namespace: str = "team-a", shadow: bool = False, model_uri: str = "", model_version: str = "",
                  token: str | None = None, session: requests.Session | None = None, raw: bytes | None = None,
                  drop: tuple[str, ...] = (), url: str | None = None) -> requests.Response:
        headers = cloudevents.headers(kind, request_id=request_id, namespace=namespace, deployment=deployment,
                                      predictor=predictor, shadow=shadow, model_uri=model_uri,
                                      model_version=model_version)
        for name in drop:
            headers.pop(name, None)
        if token != "":
            headers.update(self.auth(token))
        data = raw if raw is not None else json.dumps(body).encode()
        return (session or requests).post(url or self.url + "/log", data=data, headers=headers, timeout=30)

    def post_json(self, path: str, document: Any, token: str | None = None, **kw) -> requests.Response:
        headers = self.auth(token) if token != "" else {}
        return requests.post(self.url + path, json=document, headers=headers, timeout=60, **kw)

    def summary(self, deployment: str = "iris", namespace: str = "team-a", pairs: int = 0) -> dict[str, Any]:
        resp = requests.get(self.url + "/summary", params={"namespace": namespace, "deployment": deployment,
                                                           "pairs": pairs}, headers=self.auth(), timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()


def v2_request(row: dict[str, Any]) -> dict[str, Any]:
    return {"parameters": {"content_type": "pd"},
            "inputs": [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in row.items()]}


def v2_response(value: Any) -> dict[str, Any]:
    return {"model_name": "model", "outputs": [{"name": "predict", "shape": [1], "datatype": "INT64", "data": [value]}]}


def new_id() -> str:
    return uuid.uuid4().hex
