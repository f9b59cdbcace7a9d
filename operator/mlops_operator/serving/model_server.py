"""One real `mlserver start` process serving one predictor's model directory.

The model directory (model.joblib, model-settings.json, signature.json) is used in place; a
private work directory holds the MLServer settings (loopback host, free ports, no metrics
server, in-process inference) and a copy of model-settings.json renamed to the graph node.
The process runs in its own process group so stopping it also stops anything it spawned.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

SKLEARN_IMPLEMENTATION = "mlserver_sklearn.SKLearnModel"

#: Seldon prepackaged server names -> MLServer runtime, used when the model dir does not say.
SELDON_IMPLEMENTATIONS = {
    "SKLEARN_SERVER": SKLEARN_IMPLEMENTATION,
    "MLSERVER": SKLEARN_IMPLEMENTATION,
}


_PR_SET_PDEATHSIG = 1
try:  # loaded before any fork: the child only calls into it
    _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True) if sys.platform == "linux" else None
except OSError:  # pragma: no cover - no libc to talk to
    _LIBC = None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the controller dies without stopping us (Linux)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def model_dir_of(model_uri: str) -> Path:
    """The local directory behind a model URI; the local controller serves file:// and paths only."""
    parsed = urllib.parse.urlparse(model_uri)
    if parsed.scheme == "file":
        path = Path(urllib.parse.unquote(parsed.path))
    elif parsed.scheme == "" or len(parsed.scheme) == 1:
        path = Path(model_uri)
    else:
        raise ValueError(
            f"modelUri: {model_uri!r} uses {parsed.scheme}://, the local controller serves file:// URIs only"
        )
    if not path.is_absolute():
        raise ValueError(f"modelUri: {model_uri!r} must be an absolute path")
    if not path.is_dir():
        raise ValueError(f"modelUri: {path} is not a directory")
    return path


def model_settings_for(model_dir: Path, model_name: str, implementation: str) -> dict:
    """The model dir's model-settings.json, renamed and with an absolute artifact URI."""
    path = model_dir / "model-settings.json"
    settings = json.loads(path.read_text()) if path.exists() else {}
    settings["name"] = model_name
    settings.setdefault("implementation", SELDON_IMPLEMENTATIONS.get(implementation, SKLEARN_IMPLEMENTATION))
    params = settings.setdefault("parameters", {})
    uri = params.get("uri") or "./model.joblib"
    if not urllib.parse.urlparse(uri).scheme and not os.path.isabs(uri):
        uri = str((model_dir / uri).resolve())
    params["uri"] = uri
    if not Path(uri).exists():
        raise ValueError(f"modelUri: {model_dir} has no model artifact at {uri}")
    return settings


def _mlserver_executable() -> str:
    beside = Path(sys.executable).parent / "mlserver"
    if beside.exists():
        return str(beside)
    found = shutil.which("mlserver")
    if not found:
        raise RuntimeError("the mlserver command is not installed (pip install mlserver mlserver-sklearn)")
    return found


@dataclass
class ModelServer:
    """A started MLServer process; `url` answers the V2 protocol once ready."""

    model_uri: str
    model_name: str
    work_dir: Path
    host: str = "127.0.0.1"
    implementation: str = "SKLEARN_SERVER"
    process: subprocess.Popen | None = None
    http_port: int = 0
    started_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path:
        return self.work_dir / "mlserver.log"

    def start(self) -> None:
        """Write settings and launch `mlserver start` (returns at once; poll readiness)."""
        model_dir = model_dir_of(self.model_uri)
        model_settings = model_settings_for(model_dir, self.model_name, self.implementation)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.http_port = free_port(self.host)
        server_settings = {
            "host": self.host,
            "http_port": self.http_port,
            "grpc_port": free_port(self.host),
            "metrics_endpoint": None,
            "parallel_workers": 0,
            "debug": False,
            "load_models_at_startup": True,
        }
        (self.work_dir / "settings.json").write_text(json.dumps(server_settings, indent=2))
        model_folder = self.work_dir / self.model_name
        model_folder.mkdir(exist_ok=True)
        (model_folder / "model-settings.json").write_text(json.dumps(model_settings, indent=2))
        log = open(self.log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env = {k: v for k, v in env.items() if not k.startswith("MLSERVER_")}
        try:
            self.process = subprocess.Popen(
                [_mlserver_executable(), "start", str(self.work_dir)],
                cwd=self.work_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        self.started_at = time.monotonic()

    def exit_code(self) -> int | None:
        """None while running."""
        return self.process.poll() if self.process else None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds."""
        proc = self.process
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the process leads its own group
        if proc.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(pgid, signal.SIGKILL)  # stragglers in the group, if any
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - the kernel always reaps a SIGKILL
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
