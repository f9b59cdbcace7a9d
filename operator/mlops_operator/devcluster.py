"""`mlops-operator dev`: the whole loop on this machine, with no cluster.

An embedded Kubernetes API (kmock-based) on 127.0.0.1, our CRDs and a SeldonDeployment CRD applied
to it, the local stand-in for Seldon's controller (MLServer processes behind a traffic splitter),
and the real operator as a `kopf run` subprocess talking to that API through a kubeconfig, exactly
as it would talk to a cluster.
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
    env: dict[str, str] | None = None,
) -> AsyncIterator[DevCluster]:
    """Bring everything up; tear everything down (processes included) on exit.

    `env` overrides the operator's environment (e.g. the kfp training backend and its endpoint)."""
    workdir.mkdir(parents=True, exist_ok=True)
    api = EmbeddedAPIServer(port=port)
    await api.start()
    try:
        api.apply_files(*sorted(CRDS.glob("*.yaml")), SELDON_CRD)
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
        controller = LocalSeldonController(api.url, work_dir=workdir / "serving")
        await controller.start()
        try:
            operator = await start_operator(kubeconfig, workdir, interval, workdir / "operator.log", env)
            try:
                if examples is not None:
                    for doc in load_documents(examples):
                        api.apply(doc)
                yield DevCluster(api, controller, operator, kubeconfig, workdir)
            finally:
                await stop_process(operator)
        finally:
            await controller.stop()
    finally:
        await api.stop()


def usage(cluster: DevCluster) -> str:
    kc = cluster.kubeconfig
    cli = "mlops-operator" if shutil.which("mlops-operator") else str(Path(sys.executable).parent / "mlops-operator")
    return "\n".join([
        f"Embedded Kubernetes API: {cluster.api.url}",
        f"Operator log:            {cluster.workdir / 'operator.log'}",
        "",
        "Try:",
        f"  export KUBECONFIG={kc}",
        "  kubectl get mlp,tr,md",
        "  kubectl get tr -w",
        "  kubectl describe md breast-cancer",
        f"  {cli} traffic --deployment breast-cancer -n 2000     # live traffic, then:",
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
