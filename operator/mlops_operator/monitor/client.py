"""What the operator asks the monitor: per-arm counts for ModelDeployment status.

    from mlops_operator.monitor import client
    cfg = client.MonitorConfig.from_env()          # MLOPS_MONITOR_URL, MLOPS_MONITOR_TOKEN_FILE
    counts = await client.arm_counts(cfg, namespace, name)   # {predictor name: ArmCounts(records, labelled)}
    arms = client.per_arm(counts, {"stable": status.stable.predictor, "candidate": status.candidate.predictor})
    address = cfg.feedback_address                 # for status: where clients send labels

A monitor that is not configured or does not answer gives None: status then omits the counts
rather than failing the reconcile.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from .auth import TokenFile

log = logging.getLogger(__name__)

ENV_URL = "MLOPS_MONITOR_URL"
ENV_TOKEN_FILE = "MLOPS_MONITOR_TOKEN_FILE"
ENV_LOG_URL = "MLOPS_MONITOR_LOG_URL"


@dataclass(frozen=True)
class MonitorConfig:
    url: str  # the API base, e.g. http://mlops-monitor.mlops-system.svc:8080
    token_file: str = ""
    log_url: str = ""  # where serving sends CloudEvents; defaults to <url>/log

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "MonitorConfig | None":
        env = os.environ if env is None else env
        url = (env.get(ENV_URL) or "").rstrip("/")
        if not url:
            return None
        return cls(url, env.get(ENV_TOKEN_FILE, ""), env.get(ENV_LOG_URL, ""))

    @property
    def feedback_address(self) -> str:
        return f"{self.url}/feedback"

    @property
    def logger_url(self) -> str:
        """The URL to put in a SeldonDeployment's graph.logger."""
        return self.log_url or f"{self.url}/log"

    def headers(self) -> dict[str, str]:
        if not self.token_file:
            return {}
        try:
            return {"Authorization": f"Bearer {TokenFile(self.token_file).token()}"}
        except OSError as exc:
            log.warning("monitor token file %s unreadable: %s", self.token_file, exc)
            return {}


@dataclass(frozen=True)
class ArmCounts:
    records: int
    labelled: int


async def _get_json(cfg: MonitorConfig, path: str, params: dict[str, str], timeout: float) -> dict[str, Any] | None:
    """GET a monitor endpoint; None (and one warning) when the monitor cannot be asked."""
    what = f"monitor {path.strip('/')} of {params.get('namespace')}/{params.get('deployment')}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(f"{cfg.url}{path}", params=params, headers=cfg.headers()) as resp:
                if resp.status != 200:
                    log.warning("%s: HTTP %s", what, resp.status)
                    return None
                return await resp.json()
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        log.warning("%s failed: %s", what, exc)
        return None


async def summary(cfg: MonitorConfig, namespace: str, deployment: str, *, pairs: int = 0,
                  timeout: float = 5.0) -> dict[str, Any] | None:
    """GET /summary, or None when the monitor cannot be asked."""
    params = {"namespace": namespace, "deployment": deployment, "pairs": str(pairs)}
    return await _get_json(cfg, "/summary", params, timeout)


async def arm_counts(cfg: MonitorConfig | None, namespace: str, deployment: str,
                     *, timeout: float = 5.0) -> dict[str, ArmCounts] | None:
    """Records and labelled records per predictor (arm) of one SeldonDeployment."""
    if cfg is None:
        return None
    data = await summary(cfg, namespace, deployment, timeout=timeout)
    if data is None:
        return None
    return {name: ArmCounts(int(p.get("records", 0)), int(p.get("labelled", 0)))
            for name, p in (data.get("predictors") or {}).items()}


def counts_of(data: dict[str, Any] | None) -> dict[str, ArmCounts] | None:
    """Records and labelled records per predictor from a /summary answer already fetched."""
    if data is None:
        return None
    return {name: ArmCounts(int(p.get("records", 0)), int(p.get("labelled", 0)))
            for name, p in (data.get("predictors") or {}).items()}


async def drift(cfg: MonitorConfig, namespace: str, deployment: str, *, statistic: str = "psi",
                threshold: float = 0.2, min_rows: int = 100, alpha: float = 0.05,
                timeout: float = 5.0) -> dict[str, Any] | None:
    """GET /drift: the latest drift verdict per predictor under this policy, or None when the monitor cannot be asked."""
    params = {"namespace": namespace, "deployment": deployment, "statistic": statistic, "threshold": str(threshold),
              "minRows": str(min_rows), "alpha": str(alpha)}
    return await _get_json(cfg, "/drift", params, timeout)


async def slices(cfg: MonitorConfig, namespace: str, deployment: str, *, min_rows: int = 20, top: int = 5,
                 since: float | None = None, timeout: float = 10.0) -> dict[str, Any] | None:
    """GET /slices: per predictor, its live error and the feature bins where it fails most."""
    params = {"namespace": namespace, "deployment": deployment, "minRows": str(min_rows), "top": str(top)}
    if since is not None:
        params["since"] = str(since)
    return await _get_json(cfg, "/slices", params, timeout)


async def export(cfg: MonitorConfig, namespace: str, deployment: str, target: str, *, fmt: str = "csv",
                 since: float | None = None, mix_with: dict[str, str] | None = None,
                 timeout: float = 60.0) -> tuple[dict[str, Any] | None, str]:
    """POST /export of labelled live rows (recorded from `since`, epoch seconds), with the dataset `mix_with`
    ({uri, format}) added if given: (the snapshot {uri, digest, rows, labelled, ...}, "") or (None, why)."""
    body: dict[str, Any] = {"namespace": namespace, "deployment": deployment, "target": target, "format": fmt}
    if since is not None:
        body["since"] = since
    if mix_with is not None:
        body["mixWith"] = mix_with
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.post(f"{cfg.url}/export", json=body, headers=cfg.headers()) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 201:
                    return None, f"HTTP {resp.status}: {(data or {}).get('error', '')}"
                return data, ""
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        return None, str(exc)


def per_arm(counts: dict[str, ArmCounts] | None, arms: dict[str, str | None]) -> dict[str, ArmCounts]:
    """Counts by arm ("stable", "candidate") from counts by predictor name, for arms that have one."""
    if not counts:
        return {}
    return {arm: counts[predictor] for arm, predictor in arms.items() if predictor and predictor in counts}


def token_path_beside(kubeconfig: str | Path) -> Path:
    """Where the embedded default keeps the monitor token: next to .dev/kubeconfig."""
    return Path(kubeconfig).parent / "monitor-token"
