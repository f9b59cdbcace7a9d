"""`mlops-operator dev`: the whole loop on this machine, with no cluster.

An embedded Kubernetes API (kmock-based) on 127.0.0.1, our CRDs and a SeldonDeployment CRD applied
to it, the local stand-in for Seldon's controller (MLServer processes behind a traffic splitter),
and the real operator as a `kopf run` subprocess talking to that API through a kubeconfig, exactly
as it would talk to a cluster. The monitor (`python -m mlops_operator.monitor`) runs as a
subprocess too, with its bearer token in a file beside the kubeconfig; the local controller's
splitters log every inference to it, and the operator learns its address from the environment.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import yaml

from .embedded import EmbeddedAPIServer
from .monitor import client as monitor_client
from .monitor.auth import write_token
from .serving.controller import LocalSeldonController

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
SELDON_CRD = Path(__file__).parent / "serving" / "seldondeployment-crd.yaml"
EXAMPLES = ROOT / "manifests" / "examples"


@dataclass
class DevCluster:
    api: EmbeddedAPIServer
    controller: LocalSeldonController
    operator: asyncio.subprocess.Process
    kubeconfig: Path
    workdir: Path
    monitor: asyncio.subprocess.Process | None = None
    monitor_url: str = ""
    monitor_token_file: Path | None = None


def operator_env(kubeconfig: Path, workdir: Path, interval: float) -> dict[str, str]:
    return {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "MLOPS_TRAINING_BACKEND": "local",
        "MLOPS_METRICS_PROVIDER": "scrape",
        "MLOPS_DATA_DIR": str(workdir),
        "MLOPS_RECONCILE_INTERVAL": str(interval),
        "PYTHONUNBUFFERED": "1",
    }


async def start_operator(
    kubeconfig: Path, workdir: Path, interval: float, log: Path, env: dict[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """The operator exactly as the container runs it, in its own process group."""
    out = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces",
            "-m", "mlops_operator.handlers",
            env={**operator_env(kubeconfig, workdir, interval), **(env or {})}, stdout=out, stderr=out, start_new_session=True,
        )
    finally:
        out.close()


MONITOR_START_TIMEOUT = 60.0


async def start_monitor(workdir: Path, token_file: Path, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    """The monitor on a free loopback port, in its own process group; returns it and its URL."""
    out = log.open("ab")
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mlops_operator.monitor", "--data-dir", str(workdir / "monitor"),
            "--token-file", str(token_file), "--port", "0",
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=asyncio.subprocess.PIPE, stderr=out,
            start_new_session=True,
        )
    finally:
        out.close()
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), MONITOR_START_TIMEOUT)).decode()
    except asyncio.TimeoutError:
        line = ""
    if not line.startswith("monitor listening on "):
        await stop_process(proc)
        raise RuntimeError(f"the monitor did not start; see {log}")
    return proc, line.split()[3]


async def stop_process(proc: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


def load_documents(*paths: Path) -> list[dict]:
    docs: list[dict] = []
    for path in paths:
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            docs.extend(d for d in yaml.safe_load_all(file.read_text()) if d)
    return docs


@contextlib.asynccontextmanager
async def dev_cluster(
    workdir: Path, *, port: int = 0, interval: float = 2.0, examples: Path | None = EXAMPLES,
    env: dict[str, str] | None = None, monitor: bool = True,
) -> AsyncIterator[DevCluster]:
    """Bring everything up; tear everything down (processes included) on exit.

    `env` overrides the operator's environment (e.g. the kfp training backend and its endpoint).
    `monitor=False` leaves the monitor out (nothing is logged then)."""
    workdir.mkdir(parents=True, exist_ok=True)
    api = EmbeddedAPIServer(port=port)
    await api.start()
    monitor_proc, monitor_url, token_file = None, "", None
    try:
        api.apply_files(*sorted(CRDS.glob("*.yaml")), SELDON_CRD)
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
        if monitor:
            token_file = monitor_client.token_path_beside(kubeconfig)
            write_token(token_file)
            monitor_proc, monitor_url = await start_monitor(workdir, token_file, workdir / "monitor.log")
        controller = LocalSeldonController(
            api.url, work_dir=workdir / "serving", log_url=f"{monitor_url}/log" if monitor_url else None,
            log_token_file=str(token_file) if token_file else None)
        await controller.start()
        monitor_env = {monitor_client.ENV_URL: monitor_url,
                       monitor_client.ENV_TOKEN_FILE: str(token_file)} if monitor_url else {}
        try:
            cluster = DevCluster(api, controller, await start_operator(
                kubeconfig, workdir, interval, workdir / "operator.log", {**monitor_env, **(env or {})}),
                kubeconfig, workdir, monitor_proc, monitor_url, token_file)
            try:
                if examples is not None:
                    for doc in load_documents(examples):
                        api.apply(doc)
                yield cluster
            finally:
                await stop_process(cluster.operator)  # the current one: tests restart the operator
        finally:
            await controller.stop()
    finally:
        if monitor_proc is not None:
            await stop_process(monitor_proc)
        await api.stop()


def usage(cluster: DevCluster) -> str:
    kc = cluster.kubeconfig
    bin_dir = Path(sys.executable).parent
    return "\n".join([
        f"Embedded Kubernetes API: {cluster.api.url}",
        f"Operator log:            {cluster.workdir / 'operator.log'}",
        *([f"Monitor:                 {cluster.monitor_url} (token in {cluster.monitor_token_file}; "
           f"log {cluster.workdir / 'monitor.log'})"] if cluster.monitor_url else []),
        "",
        "Try:",
        f"  export KUBECONFIG={kc}",
        *([] if shutil.which("kubectl-mlops") else [f"  export PATH={bin_dir}:$PATH      # for `kubectl mlops`"]),
        "  kubectl get mlp,tr,md",
        "  kubectl get tr -w",
        "  kubectl describe md breast-cancer",
        "  kubectl mlops status",
        "  kubectl mlops traffic md breast-cancer --duration 10m --rate 20    # live traffic, then:",
        *([f"  curl -H \"Authorization: Bearer $(cat {cluster.monitor_token_file})\" "
           f"'{cluster.monitor_url}/summary?namespace=default&deployment=breast-cancer'"] if cluster.monitor_url else []),
        "  kubectl patch mlp breast-cancer --type merge -p '{\"spec\":{\"dataset\":{\"version\":\"v2\"}}}'",
        "",
        "Ctrl-C stops everything.",
    ])


async def run_dev(workdir: Path, port: int, interval: float, examples: Path | None, exit_after: float | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with dev_cluster(workdir, port=port, interval=interval, examples=examples) as cluster:
        print(usage(cluster), flush=True)
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(cluster.operator.wait())]
        done, pending = await asyncio.wait(waiters, timeout=exit_after, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if cluster.operator.returncode is not None:
            print(f"the operator exited with {cluster.operator.returncode}; see {workdir / 'operator.log'}",
                  file=sys.stderr)
            return 1
    return 0
