"""ModelDeployment: observe Seldon and the metrics, let the state machine decide, write the plan."""
from __future__ import annotations

import contextlib
import time
from typing import Any

import kopf
from pydantic import ValidationError

from .. import kube
from ..api.common import GROUP, VERSION, Condition, from_rfc3339, set_condition
from ..api.mlproject import DriftPolicy, MLProjectSpec
from ..decisions import drift_policy
from ..api.modeldeployment import (
    ABORT_ANNOTATION,
    PROMOTE_ANNOTATION,
    ArmMetrics,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    ModelSource,
    SeldonStatus,
    ServedModel,
)
from ..decisions import blessed
from ..decisions.rollout import Observation, advance, served_model
from ..decisions.seldon import (
    SELDON_API_VERSION,
    SELDON_PLURAL,
    STATE_FAILED,
    desired_seldon_deployment,
    lost_predictors,
    seldon_status,
)

LOST = "PredictorUnavailable"
#: Newest stable/shadow answer pairs asked of the monitor for a shadow's delta.
SHADOW_PAIRS = 2000
from ..monitor import client as monitor_client
from ..training.storage import serving_secret
from ..telemetry import CANARY_WEIGHT, PREDICTOR_AVAILABLE, QUALITY_ESTIMATE, ROLLBACKS
from ..telemetry import QUALITY_INTERVAL, QUALITY_ROLLBACKS, SHADOW_DELTA
from . import loop
from .indexes import deleted, run_named, runs_of_project
from .status import ready, reject_invalid, write_status
from .state import OperatorState, state


def resolve_model(
    spec: ModelDeploymentSpec, namespace: str, training_runs: kopf.Index, projects: kopf.Index,
    source: ModelSource | None = None,
) -> tuple[ServedModel | None, str]:
    """The model version the spec asks for (or `source`, a challenger's), or None and why it cannot be served (yet)."""
    model = source or spec.model
    if model.uri:
        return served_model(model.key(), model.uri, None), ""
    name = model.training_run
    if model.champion:
        project = next(iter(projects.get((namespace, spec.project_ref.name), [])), None)
        name = (project or {}).get("champion", {}).get("trainingRun")
        if not name:
            return None, f"spec.projectRef.name: MLProject {spec.project_ref.name!r} has no champion yet"
    run = run_named(training_runs, namespace, name)
    if run is None:
        return None, f"spec.model.trainingRun: TrainingRun {name!r} not found"
    if run.phase != "Blessed" or not run.model_uri:
        return None, f"spec.model.trainingRun: TrainingRun {name!r} is {run.phase or 'not finished'}, not Blessed"
    return served_model(model.key(name), run.model_uri, name), ""


def readiness(seldon: SeldonStatus | None, predictors: list[str]) -> tuple[frozenset[str], dict[str, str]]:
    """Predictors with an available replica, and those Seldon reports as failed (with why)."""
    if seldon is None:
        return frozenset(), {}
    up = frozenset(p for p in predictors if seldon.replicas.get(p, 0) > 0)
    failed = {}
    if seldon.state == STATE_FAILED:
        failed = {p: seldon.description or "Seldon reports Failed" for p in predictors if p not in up}
    return up, failed


@kopf.on.event(GROUP, VERSION, "modeldeployments", when=deleted)  # others: indexes.deployments_by_project
async def deployment_deleted(type: str, name: str, namespace: str, body: Any, memo: Any, **_: Any) -> None:
    loop.observe(type, body, memo)
    forget_deployment(state(memo), namespace, name)  # the SeldonDeployment goes with its owner (garbage collection)


@kopf.daemon(GROUP, VERSION, "modeldeployments", cancellation_timeout=30)
async def deployment_loop(**kwargs: Any) -> None:
    await loop.run(reconcile_deployment, kwargs, kind="ModelDeployment", plural="modeldeployments",
                   interval=state(kwargs["memo"]).settings.reconcile_interval)


async def reconcile_deployment(
    name: str, namespace: str, body: Any, spec: Any, status: Any, meta: Any, patch: kopf.Patch,
    training_runs: kopf.Index, projects: kopf.Index, seldon_deployments: kopf.Index, logger: Any, memo: Any,
    **_: Any,
) -> None:
    ours = state(memo)
    monitor = ours.monitor  # where the monitor is, or None when there is none
    generation = meta.get("generation")
    try:
        md = ModelDeploymentSpec.model_validate(dict(spec))
    except ValidationError as e:
        return reject_invalid(e, body, status, patch, generation)
    current = ModelDeploymentStatus.model_validate(dict(status))

    desired, why = resolve_model(md, namespace, training_runs, projects)
    if desired is None:
        desired = current.candidate or current.stable  # keep serving what serves now
        if desired is None:
            patch.status["phase"] = "Pending"
            patch.status["observedGeneration"] = generation
            patch.status["conditions"] = ready(status, False, "ModelNotReady", why, generation)
            return
    md = project_challengers(md, namespace, training_runs, desired.training_run)

    sdep = next(iter(seldon_deployments.get((namespace, name), [])), None)  # from the watch: no GET per turn
    seldon = seldon_status(sdep)
    if not ours.closed:
        ours.addresses[(namespace, name)] = seldon.address if seldon else None
        ours.replicas[(namespace, name)] = md.replicas
    serving = [m.predictor for m in (current.stable, current.candidate) if m is not None]
    if current.tournament is not None and current.tournament.outcome == "running":
        serving += [a.model.predictor for a in current.tournament.challengers if not a.stopped]
    challengers = {c.name: resolve_model(md, namespace, training_runs, projects, c.model)[0] for c in md.challengers}
    up, failed = readiness(seldon, serving)
    was_lost = _ready_reason(status) == LOST
    lost = lost_predictors(current.seldon, seldon, serving, still_reported=was_lost)
    provider = ours.metrics
    since = from_rfc3339(current.step_started_at) if current.step_started_at else None
    arms: dict[str, ArmMetrics | None] = {"stable": None, "candidate": None}
    for role, model in (("stable", current.stable), ("candidate", current.candidate)):
        if model is not None and model.predictor in up:
            try:
                arms[role] = await provider.arm_metrics(namespace, name, model.predictor, since)
            except Exception as e:  # no measurements is an inconclusive analysis, not a failed reconcile
                logger.warning("metrics for %s/%s unavailable: %s", role, model.predictor, e)
    challenger_metrics: dict[str, ArmMetrics | None] = {}
    if current.tournament is not None and current.tournament.outcome == "running":  # their guardrails
        started = from_rfc3339(current.tournament.started_at)
        for arm in current.tournament.challengers:
            if not arm.stopped and arm.model.predictor in up:
                try:
                    challenger_metrics[arm.model.predictor] = await provider.arm_metrics(
                        namespace, name, arm.model.predictor, started)
                except Exception as e:  # no measurements: the check is inconclusive
                    logger.warning("metrics for challenger %s unavailable: %s", arm.model.predictor, e)

    annotations = meta.get("annotations") or {}
    bounds = md.strategy.shadow.bounds
    pairs = SHADOW_PAIRS if md.strategy.type == "shadow" and bounds is not None and bounds.is_set() else 0
    summary = await monitor_client.summary(monitor, namespace, name, pairs=pairs) if monitor else None
    plan = advance(md, current, desired, Observation(
        now=time.time(), ready=up, failed=failed, stable=arms["stable"], candidate=arms["candidate"],
        promote=annotations.get(PROMOTE_ANNOTATION), abort=annotations.get(ABORT_ANNOTATION),
        monitor=summary, challenger_metrics=challenger_metrics,
    ), challengers)

    manifest = desired_seldon_deployment(
        name, namespace, list(plan.predictors),
        owner={"apiVersion": body["apiVersion"], "kind": body["kind"], "name": name, "uid": meta["uid"]},
        replicas=md.replicas,
        resources=md.resources.wire() if md.resources else None,
        implementation=md.server.implementation,
        image=md.server.image,
        labels={"mlops.dev/deployment": name},
        logger_url=monitor.logger_url if monitor else None,
        env_secret=serving_secret(ours.settings, _project_spec(projects, namespace, md)),
    )
    if sdep is None:  # the status says so at once: no second write when the watch brings it back
        sdep, _ = await kube.create(SELDON_API_VERSION, SELDON_PLURAL, namespace, manifest)
        seldon = seldon_status(sdep)
    elif sdep.get("spec") != manifest["spec"]:
        await kube.patch(SELDON_API_VERSION, SELDON_PLURAL, namespace, name, {"spec": manifest["spec"]})

    for event in plan.events:  # messages carry the verdict's numbers (estimates, interval, bound)
        kopf.event(body, type=event.type, reason=event.reason, message=event.message[:1024])
        if event.reason == "RolledBack":
            ROLLBACKS.labels(namespace, name).inc()
        if event.reason == "RolledBack" and event.cause:
            quality = md.strategy.analysis.quality
            metric = quality.metric if event.cause == "quality" and quality else event.cause
            QUALITY_ROLLBACKS.labels(namespace, name, metric).inc()
    candidate = plan.status.candidate
    CANARY_WEIGHT.labels(namespace, name).set(plan.status.weights.get(candidate.predictor, 0) if candidate else 0)
    export_quality(namespace, name, plan.status)

    new = plan.status.wire()
    new.pop("kopf", None)
    new["observedGeneration"] = generation
    recorded = monitor_client.per_arm(monitor_client.counts_of(summary), {
        role: m.predictor if m else None for role, m in (("stable", plan.status.stable),
                                                         ("candidate", plan.status.candidate))})
    for role, counts in recorded.items():  # what the monitor logged and labelled, per arm
        arms[role] = (arms.get(role) or ArmMetrics()).model_copy(
            update={"records": counts.records, "labelled": counts.labelled})
    quality = plan.status.analysis
    if quality is not None and plan.status.candidate is not None:  # the verdict's numbers, per arm
        for role, arm in (("stable", quality.stable), ("candidate", quality.candidate)):
            extra: dict[str, Any] = {"samples": arm.samples, "estimate": arm.estimate}
            if role == "candidate":
                extra.update(interval=quality.interval, bound=quality.min_effect)
            arms[role] = (arms.get(role) or ArmMetrics()).model_copy(update=extra)
    new["arms"] = {role: m.wire() for role, m in arms.items() if m is not None}
    new["feedbackAddress"] = monitor.feedback_address if monitor else None
    if seldon is not None:
        new["seldon"] = seldon.wire()
    for key in ("candidate", "rolledBack", "step", "stepStartedAt", "rolloutStartedAt", "seldon",
                "lastCheckAt", "qualityBaseline", "analysis", "quality", "shadowDelta", "tournament"):
        new.setdefault(key, None)  # cleared fields must be removed from the stored status
    decision = plan.status.last_decision
    ok = plan.status.phase == "Serving"
    reason = decision.action if decision and not ok else (plan.status.phase or "Pending")
    message = why or (decision.reason if decision else "")
    export_availability(ours, namespace, name, {p: p not in lost for p in serving})
    if lost:  # a model server died or is unreachable: say which and why, while it lasts
        ok, reason = False, LOST
        message = "; ".join(f"predictor {p} unavailable: {cause}" for p, cause in sorted(lost.items()))
        if not was_lost:
            kopf.event(body, type="Warning", reason=LOST, message=message)
    elif was_lost:
        kopf.event(body, type="Normal", reason="PredictorRecovered", message="every predictor is available again")
    conditions = ready(status, ok, reason, message, generation)
    if monitor is not None:
        conditions = await _drift_conditions(monitor, body, status, conditions, md, namespace, name, projects,
                                             generation, (new.get("stable") or {}).get("predictor"))
    new["conditions"] = conditions
    write_status(patch, status, new)


async def _drift_conditions(monitor: monitor_client.MonitorConfig, body: Any, status: Any, conditions: list[dict],
                            md: ModelDeploymentSpec, namespace: str, name: str, projects: kopf.Index,
                            generation: int | None, stable: str | None) -> list[dict]:
    """`Drifted` and `DataQuality` of the stable predictor, judged by the project's drift policy (or the
    defaults), with an Event when either changes."""
    project = next(iter(projects.get((namespace, md.project_ref.name), [])), None) if md.project_ref else None
    try:
        policy = MLProjectSpec.model_validate(project["spec"]).drift if project else DriftPolicy()
    except ValidationError:
        policy = DriftPolicy()
    report = await monitor_client.drift(monitor, namespace, name, statistic=policy.statistic,
                                        threshold=policy.threshold, min_rows=policy.window, alpha=policy.alpha)
    current = [Condition.model_validate(c) for c in conditions]
    for type_, (state, reason, message) in drift_policy.deployment_conditions(report, name, stable).items():
        before = next((c for c in current if c.type == type_), None)
        current = set_condition(current, type_, state, reason, message, generation)
        if before is not None and (before.status, before.reason) != (state, reason):
            bad = state == ("True" if type_ == "Drifted" else "False")
            kopf.event(body, type="Warning" if bad else "Normal", reason=reason, message=message)
    return [c.wire() for c in current]


def _project_spec(projects: Any, namespace: str, md: ModelDeploymentSpec) -> dict | None:
    project = next(iter(projects.get((namespace, md.project_ref.name), [])), None) if md.project_ref else None
    return project["spec"] if project else None


def project_challengers(md: ModelDeploymentSpec, namespace: str, training_runs: Any,
                        stable_run: str | None) -> ModelDeploymentSpec:
    """The spec with challengers `fromProject` resolved to the project's last Blessed versions."""
    if not any(c.from_project for c in md.challengers) or md.project_ref is None:
        return md
    runs = runs_of_project(training_runs, namespace, md.project_ref.name)
    return md.model_copy(update={"challengers": blessed.expand(md.challengers, runs, stable_run)})


def export_quality(namespace: str, name: str, st: ModelDeploymentStatus) -> None:
    """The quality estimate and interval of each arm, and a shadow's delta, of the release in progress."""
    selector = {"namespace": namespace, "name": name}
    for gauge in (QUALITY_ESTIMATE, QUALITY_INTERVAL, SHADOW_DELTA):
        gauge.remove_by_labels(selector)
    delta = st.shadow_delta
    if delta is not None and st.candidate is not None and st.strategy == "shadow":
        for statistic, value in (("disagreement", delta.disagreement), ("disagreement_upper", delta.disagreement_upper),
                                 ("ks", delta.ks), ("js", delta.js), ("mean_abs_diff", delta.mean_abs_diff)):
            if value is not None:
                SHADOW_DELTA.labels(namespace, name, statistic).set(value)
    analysis, t = st.analysis, st.tournament
    if analysis is None:
        return
    arms: dict[str, tuple[float | None, list[float] | None]] = {}
    if st.candidate is not None:
        arms = {"stable": (analysis.stable.estimate, None), "candidate": (analysis.candidate.estimate, analysis.interval)}
    elif t is not None and t.outcome == "running":
        arms = {"stable": (analysis.stable.estimate, None),
                **{a.name: (a.estimate, a.interval) for a in t.challengers if not a.stopped}}
    for arm, (value, interval) in arms.items():
        if value is not None:
            QUALITY_ESTIMATE.labels(namespace, name, arm, analysis.metric).set(value)
        if interval:
            QUALITY_INTERVAL.labels(namespace, name, arm, analysis.metric, "lo").set(interval[0])
            QUALITY_INTERVAL.labels(namespace, name, arm, analysis.metric, "hi").set(interval[1])


def _ready_reason(status: Any) -> str | None:
    return next((c.get("reason") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)


def export_availability(ours: OperatorState, namespace: str, name: str, available: dict[str, bool]) -> None:
    """1 or 0 per serving predictor; a predictor that stopped serving loses its series. The predictors
    exported last are kept, since a scan of every series per turn was quadratic in deployments."""
    for predictor in ours.predictors.get((namespace, name), set()) - set(available):
        PREDICTOR_AVAILABLE.remove(namespace, name, predictor)
    for predictor, up in available.items():
        PREDICTOR_AVAILABLE.labels(namespace, name, predictor).set(1 if up else 0)
    if not ours.closed:
        ours.predictors[(namespace, name)] = set(available)


def forget_deployment(ours: OperatorState, namespace: str, name: str) -> None:
    """Drop what this process kept about a deleted deployment."""
    ours.addresses.pop((namespace, name), None)
    ours.replicas.pop((namespace, name), None)
    with contextlib.suppress(KeyError):  # never reconciled by this process
        CANARY_WEIGHT.remove(namespace, name)
    export_availability(ours, namespace, name, {})
    ours.predictors.pop((namespace, name), None)
    for gauge in (QUALITY_ESTIMATE, QUALITY_INTERVAL, SHADOW_DELTA):
        gauge.remove_by_labels({"namespace": namespace, "name": name})
