"""MLProject: start TrainingRuns on new dataset versions and schedules; keep champion and history."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import kopf
from pydantic import ValidationError

from mlops_components import locations

from .. import kube
from ..api.common import API_VERSION, GROUP, VERSION, Condition, from_rfc3339, now_rfc3339, set_condition
from ..api.mlproject import LatestVersion, MLProjectSpec, MLProjectStatus
from ..decisions import dataset_version, drift_policy
from ..decisions.project import RunSummary, plan_project, training_run
from ..monitor import client as monitor_client
from ..telemetry import (CHAMPION_METRIC, DRIFT_RETRAINS, DRIFT_STATISTIC, DRIFTED, ERROR_SLICE, SECONDS_TO_DRIFT,
                         SECONDS_TO_QUALITY)
from ..training.storage import StorageSecretError, StorageSettings
from . import loop
from .indexes import deleted, runs_of_project
from .state import state
from .status import ready, reject_invalid, write_status


@kopf.on.event(GROUP, VERSION, "mlprojects", when=deleted)  # other events: indexes.projects
async def project_deleted(type: str, body: Any, memo: Any, **_: Any) -> None:
    loop.observe(type, body, memo)


@kopf.daemon(GROUP, VERSION, "mlprojects", cancellation_timeout=30)
async def project_loop(**kwargs: Any) -> None:
    await loop.run(reconcile_project, kwargs, kind="MLProject", plural="mlprojects",
                   interval=state(kwargs["memo"]).settings.reconcile_interval)


async def reconcile_project(
    name: str, namespace: str, body: Any, spec: Any, status: Any, meta: Any, patch: kopf.Patch,
    training_runs: kopf.Index, deployments_by_project: kopf.Index, memo: Any, **_: Any,
) -> None:
    generation = meta.get("generation")
    try:
        project = MLProjectSpec.model_validate(dict(spec))
    except ValidationError as e:
        return reject_invalid(e, body, status, patch, generation)
    latest = None
    if project.dataset.version == dataset_version.LATEST:
        latest = await _latest_version(state(memo), namespace, project, status)
        if latest.version is None:
            patch.status["latestDatasetVersion"] = latest.wire()
            patch.status["observedGeneration"] = generation
            patch.status["conditions"] = ready(status, False, "DatasetVersionUnresolved", latest.error or "", generation)
            return None
        project = project.model_copy(update={"dataset": project.dataset.model_copy(update={"version": latest.version})})
    runs = runs_of_project(training_runs, namespace, name)
    deployments = list(deployments_by_project.get((namespace, name), []))
    serving = next((d["trainingRun"] for d in deployments), None)
    current = MLProjectStatus.model_validate(dict(status))
    plan = plan_project(name, namespace, meta["uid"], project, current, runs, serving, time.time())

    for obj in plan.create:
        await kube.create(API_VERSION, "trainingruns", namespace, obj)
    for type_, reason, message in plan.events:
        kopf.event(body, type=type_, reason=reason, message=message)

    new = plan.status.wire()
    new.pop("conditions", None)
    new.pop("kopf", None)
    champion = plan.status.champion
    if champion and champion.value is not None:
        CHAMPION_METRIC.labels(namespace, name, champion.metric or "").set(champion.value)
    message = (f"champion {champion.training_run} ({champion.metric}={champion.value})" if champion
               else "no blessed model yet")
    degraded = plan.status.phase == "Degraded"
    if degraded:
        message = f"the latest TrainingRun {plan.status.latest_run} failed; {message}"
    new["observedGeneration"] = generation
    if latest is not None:
        new["latestDatasetVersion"] = latest.wire()
        if latest.error:  # listing failed: keep training on the last version found, and say so
            message = f"{message}; {latest.error}"
    conditions = ready(status, not degraded, plan.status.phase or "Ready", message, generation)
    if project.drift.enabled:
        conditions, new["drift"] = await _drift(body, name, namespace, meta["uid"], project, status,
                                                state(memo).monitor, runs, deployments,
                                                len(plan.create), conditions, generation)
    else:
        conditions = [c for c in conditions if c.get("type") not in ("Drifted", "DataQuality", "DriftMonitoring")]
    new["conditions"] = conditions
    new.setdefault("serving", None)
    new.setdefault("champion", None)
    write_status(patch, status, new)


async def _latest_version(ours: Any, namespace: str, project: MLProjectSpec, status: Any) -> LatestVersion:
    """The newest dataset version the source lists (checked once a minute); on failure the last one found."""
    previous = LatestVersion.model_validate(dict(status.get("latestDatasetVersion") or {}))
    if previous.checked_at and time.time() - from_rfc3339(previous.checked_at) < dataset_version.REFRESH_SECONDS:
        return previous
    uri = project.dataset.uri
    prefix = dataset_version.listing_prefix(uri)
    try:
        credentials = None
        if locations.scheme(uri) == "s3":
            credentials = await StorageSettings.resolve(ours.settings, project.storage).load(namespace)
        newest = dataset_version.newest(uri, await asyncio.to_thread(locations.list_uris, prefix, credentials))
        error = None if newest else f"dataset.uri: no version under {prefix} fits {uri}"
    except (locations.StorageError, StorageSecretError, ValueError, OSError) as exc:
        newest, error = None, f"dataset.uri: cannot list {prefix}: {exc}"
    return LatestVersion(version=newest or previous.version, checked_at=now_rfc3339(), error=error)


async def _drift(body: Any, name: str, namespace: str, uid: str, project: MLProjectSpec, status: Any,
                 cfg: monitor_client.MonitorConfig | None,
                 runs: list[RunSummary], deployments: list[dict[str, Any]], starting: int,
                 conditions: list[dict], generation: int | None) -> tuple[list[dict], dict[str, Any]]:
    """Ask the monitor for the drift of the project's deployments; conditions, events, metrics, a drift retrain."""
    policy = project.drift
    observations: list[drift_policy.Observation] = []
    live: dict[str, float] = {}
    monitor_ok = cfg is not None
    for dep in sorted(deployments, key=lambda d: d["name"]):
        if cfg is None:
            break
        report = await monitor_client.drift(cfg, namespace, dep["name"], statistic=policy.statistic,
                                            threshold=policy.threshold, min_rows=policy.window, alpha=policy.alpha)
        if report is None:
            monitor_ok = False
            continue
        found = drift_policy.observations(report, dep["name"], dep.get("predictor"))
        observations += found
        if project.metric.minimum is not None and found:
            summary = await monitor_client.summary(cfg, namespace, dep["name"])
            for o in found:
                value = drift_policy.live_metric(project.metric, ((summary or {}).get("predictors") or {}).get(o.predictor))
                if value is not None:
                    live[o.model_version] = value
    by_name = {r.name: r for r in runs}
    promoted = next((d.get("promotedAt") for d in deployments if d.get("promotedAt")), None)
    if promoted is None:  # fall back to when the serving model version was finished (blessed)
        serving = next((by_name.get(d.get("trainingRun")) for d in deployments if d.get("trainingRun")), None)
        promoted = serving.completed if serving else None
    previous = dict(status.get("drift") or {})
    plan = drift_policy.plan_drift(name, policy, previous, observations, runs, monitor_ok=monitor_ok,
                                   other_runs_starting=starting, allow_concurrent=project.training.allow_concurrent_runs,
                                   promoted_at=promoted, now=time.time(), metric=project.metric, live=live)
    drift_status = dict(plan.status)
    for type_, reason, message in plan.events:
        kopf.event(body, type=type_, reason=reason, message=message[:1000])

    if plan.retrain is not None:
        created = await _start_retrain(body, name, namespace, uid, project, plan.retrain, cfg)
        if not created:
            drift_status["lastRetrain"] = previous.get("lastRetrain")
    elif plan.waiting and previous.get("waiting") != plan.waiting:
        kopf.event(body, type="Normal", reason="RetrainWaiting", message=plan.waiting)
    drift_status["waiting"] = plan.waiting
    drift_status.update(await _error_slices(cfg, namespace, name, deployments, previous))

    existing = [Condition.model_validate(c) for c in conditions if c.get("type") != "DriftMonitoring"]
    old = {c.get("type"): c for c in status.get("conditions") or []}
    for type_, (cstatus, reason, message) in (("Drifted", plan.drifted), ("DataQuality", plan.quality)):
        before = old.get(type_) or {}
        if type_ == "DataQuality" and (before.get("status"), before.get("reason")) != (cstatus, reason) \
                and cstatus == "False":
            kopf.event(body, type="Warning", reason="DataQuality", message=message[:1000])
        existing = set_condition(existing, type_, cstatus, reason, message[:4000], generation)

    DRIFTED.labels(namespace, name).set(1 if plan.drifted[0] == "True" else 0)
    for o in observations:
        for f in o.features:
            for stat in ("psi", "js", "ks", "wasserstein"):
                if isinstance(f.get(stat), (int, float)):
                    DRIFT_STATISTIC.labels(namespace, name, o.deployment, str(f.get("feature")), stat).set(f[stat])
    for entry in drift_status.get("staleness") or []:
        if "secondsToDrift" in entry:
            SECONDS_TO_DRIFT.labels(namespace, name, entry.get("modelVersion", "")).set(entry["secondsToDrift"])
        if "secondsToQualityBelowMinimum" in entry:
            SECONDS_TO_QUALITY.labels(namespace, name, entry.get("modelVersion", "")).set(
                entry["secondsToQualityBelowMinimum"])
    return [c.wire() for c in existing], {k: v for k, v in drift_status.items() if v is not None}


async def _error_slices(cfg: monitor_client.MonitorConfig | None, namespace: str, name: str,
                        deployments: list[dict[str, Any]], previous: dict[str, Any]) -> dict[str, Any]:
    """The worst live error slices of the project's deployments, refreshed once a minute, as status and metrics."""
    now = time.time()
    kept = {"errorSlices": previous.get("errorSlices"), "errorSlicesAt": previous.get("errorSlicesAt")}
    if cfg is None or not deployments or not drift_policy.slices_due(previous, now):
        return kept
    reports = {d["name"]: await monitor_client.slices(cfg, namespace, d["name"]) for d in deployments}
    if all(r is None for r in reports.values()):
        return kept
    worst = drift_policy.worst_slices(reports)
    for s in previous.get("errorSlices") or []:
        try:
            ERROR_SLICE.remove(namespace, name, s["deployment"], s["predictor"], s["feature"], s["bin"])
        except KeyError:  # not set by this process (a restart)
            pass
    for s in worst:
        ERROR_SLICE.labels(namespace, name, s["deployment"], s["predictor"], s["feature"], s["bin"]).set(s["error"])
    return {"errorSlices": worst, "errorSlicesAt": round(now, 3)}


async def _start_retrain(body: Any, name: str, namespace: str, uid: str, project: MLProjectSpec,
                         retrain: drift_policy.Retrain, cfg: monitor_client.MonitorConfig | None) -> bool:
    """Create the episode's TrainingRun (trigger drift) on its data, then write its evidence to its status."""
    evidence = retrain.evidence
    obj = training_run(name, namespace, uid, retrain.name, project.dataset.version, "drift")
    obj["metadata"]["annotations"] = {drift_policy.EPISODE_ANNOTATION: retrain.episode,
                                      "mlops.dev/drift-evidence": json.dumps(evidence, sort_keys=True)[:16000]}
    if project.drift.retrain_data == "live":
        since = (evidence.get("window") or {}).get("startedAt")  # the live data since the window that drifted
        dataset = project.dataset
        mix = ({"uri": dataset_version.concrete_uri(dataset.uri, dataset.version), "format": dataset.format}
               if project.drift.mix_training_data else None)
        snapshot, why = (await monitor_client.export(cfg, namespace, evidence["deployment"], dataset.target,
                                                     since=since if isinstance(since, (int, float)) else None,
                                                     mix_with=mix)
                         if cfg else (None, "no monitor configured"))
        labelled = int((snapshot or {}).get("labelled") or 0)
        if snapshot is None or labelled < project.drift.min_labelled_rows:
            kopf.event(body, type="Normal", reason="RetrainWaiting",
                       message=f"drift retrain waits for labelled live rows: {labelled} of "
                               f"{project.drift.min_labelled_rows}{' (' + why + ')' if why else ''}")
            return False
        digest = str(snapshot.get("digest") or "")
        obj["spec"]["dataset"] = {"uri": snapshot["uri"], "format": snapshot.get("format", "csv"),
                                  "digest": digest, "rows": int(snapshot.get("rows") or 0)}
        obj["spec"]["datasetVersion"] = "live-" + digest.split(":")[-1][:12]
        evidence = {**evidence, "dataset": obj["spec"]["dataset"]}
    made, created = await kube.create(API_VERSION, "trainingruns", namespace, obj)
    if not (made.get("status") or {}).get("drift"):
        await kube.patch_status(API_VERSION, "trainingruns", namespace, retrain.name,
                                {"status": {"drift": {k: v for k, v in evidence.items() if k != "dataset"}}})
    if created:
        DRIFT_RETRAINS.labels(namespace, name).inc()
        kopf.event(body, type="Normal", reason="RetrainStarted",
                   message=f"drift episode {retrain.episode}: TrainingRun {retrain.name} on "
                           f"{obj['spec'].get('dataset', {}).get('uri', 'dataset ' + project.dataset.version)}")
    return True
