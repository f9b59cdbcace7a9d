"""Every operator series the chart's dashboard and alerts read is one the operator defines.

A panel or alert on a misspelt series shows "No data" or never fires, silently; here each
`mlops_modeldeployment_*`, `mlops_mlproject_*`, `mlops_trainingrun_*` and `mlops_handler_*` name is
checked against the operator's own registry (mlops_operator.telemetry), and the quality panels
(estimate, interval, shadow delta) and the quality-rollback alert are required to be there.
"""
from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY

from mlops_operator import telemetry  # noqa: F401  (defines the operator's series)

from .render import one, render_chart

OPERATOR_SERIES = re.compile(r"\bmlops_(?:modeldeployment|mlproject|trainingrun|handler)_[a-z_]+")


def _defined() -> set[str]:
    """Series names of the operator's registry, also of labelled families with no sample yet."""
    names = set()
    for family in REGISTRY.collect():
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    return names


def test_dashboard_and_alerts_read_only_series_the_operator_defines():
    dashboard = json.loads(one(render_chart({"metrics": {"grafanaDashboard": {"enabled": True}}}),
                               "ConfigMap")["data"]["mlops-operator.json"])
    panels = {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}
    rule = one(render_chart({"metrics": {"prometheusRule": {"enabled": True}}}), "PrometheusRule")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    used = {name for exprs in [*panels.values(), list(alerts.values())] for e in exprs for name in OPERATOR_SERIES.findall(e)}
    missing = sorted(name for name in used if name not in _defined())
    assert not missing, f"dashboard/alerts read series the operator never exports: {missing}"

    quality = " ".join(e for title, exprs in panels.items() for e in exprs)
    for series in ("mlops_modeldeployment_quality_estimate", "mlops_modeldeployment_quality_interval",
                   "mlops_modeldeployment_shadow_delta", "mlops_modeldeployment_quality_rollbacks_total"):
        assert series in quality, series
    assert "mlops_modeldeployment_quality_rollbacks_total" in alerts["MLOpsRolloutRolledBackOnQuality"]


def test_the_handler_sets_the_quality_panels_series_and_clears_them_when_the_release_ends():
    from mlops_operator.api.modeldeployment import ModelDeploymentStatus
    from mlops_operator.handlers.modeldeployment import export_quality

    model = lambda name: {"key": f"tr:{name}", "uri": f"file:///m/{name}", "predictor": f"{name}-abc123"}  # noqa: E731
    canary = ModelDeploymentStatus.model_validate({
        "stable": model("v1"), "candidate": model("v2"), "strategy": "canary",
        "analysis": {"metric": "logLoss", "verdict": "inconclusive", "reason": "...", "stable": {"samples": 300, "estimate": 0.3},
                     "candidate": {"samples": 120, "estimate": 0.35}, "interval": [-0.02, 0.12]}})
    export_quality("ns-q", "md-q", canary)
    value = lambda name, **labels: REGISTRY.get_sample_value(name, {"namespace": "ns-q", "name": "md-q", **labels})  # noqa: E731
    assert value("mlops_modeldeployment_quality_estimate", arm="candidate", metric="logLoss") == 0.35
    assert value("mlops_modeldeployment_quality_estimate", arm="stable", metric="logLoss") == 0.3
    assert value("mlops_modeldeployment_quality_interval", arm="candidate", metric="logLoss", bound="lo") == -0.02
    assert value("mlops_modeldeployment_quality_interval", arm="candidate", metric="logLoss", bound="hi") == 0.12

    shadow = ModelDeploymentStatus.model_validate({
        "stable": model("v1"), "candidate": model("v3"), "strategy": "shadow",
        "shadowDelta": {"pairs": 80, "disagreement": 0.1, "disagreementUpper": 0.25, "ks": 0.1, "js": 0.05}})
    export_quality("ns-q", "md-q", shadow)
    assert value("mlops_modeldeployment_shadow_delta", statistic="disagreement_upper") == 0.25
    assert value("mlops_modeldeployment_quality_estimate", arm="candidate", metric="logLoss") is None  # release over

    abn = ModelDeploymentStatus.model_validate({
        "stable": model("v1"), "strategy": "direct",
        "analysis": {"metric": "accuracy", "verdict": "continue", "reason": "...", "stable": {"samples": 200, "estimate": 0.8}},
        "tournament": {"stableKey": "tr:v1", "startedAt": "2026-01-01T00:00:00Z", "challengers": [
            {"name": "past-1", "model": model("r3"), "estimate": 0.9, "interval": [0.01, 0.19]},
            {"name": "bad", "model": model("r0"), "stopped": True, "estimate": 0.2, "interval": [-0.7, -0.5]}]}})
    export_quality("ns-q", "md-q", abn)
    assert value("mlops_modeldeployment_shadow_delta", statistic="disagreement_upper") is None
    assert value("mlops_modeldeployment_quality_interval", arm="past-1", metric="accuracy", bound="lo") == 0.01
    assert value("mlops_modeldeployment_quality_estimate", arm="bad", metric="accuracy") is None  # stopped
    export_quality("ns-q", "md-q", ModelDeploymentStatus.model_validate({"stable": model("r3"), "strategy": "direct"}))
    assert value("mlops_modeldeployment_quality_estimate", arm="past-1", metric="accuracy") is None
    assert value("mlops_modeldeployment_quality_interval", arm="past-1", metric="accuracy", bound="hi") is None


def test_availability_series_follow_the_serving_predictors_and_go_with_the_deployment():
    from mlops_operator.handlers.modeldeployment import export_availability, forget_deployment
    from mlops_operator.handlers.state import OperatorState
    from mlops_operator.settings import Settings

    ours = OperatorState(Settings(), None, metrics=None)  # type: ignore[arg-type]  (no provider needed here)
    value = lambda predictor: REGISTRY.get_sample_value(  # noqa: E731
        "mlops_modeldeployment_predictor_available", {"namespace": "ns-a", "name": "md-a", "predictor": predictor})
    export_availability(ours, "ns-a", "md-a", {"v1-a": True, "v2-b": False})
    assert (value("v1-a"), value("v2-b")) == (1, 0)
    export_availability(ours, "ns-a", "md-a", {"v2-b": True})  # v1 retired
    assert (value("v1-a"), value("v2-b")) == (None, 1)
    export_availability(ours, "ns-a", "other", {"v9-z": True})
    forget_deployment(ours, "ns-a", "md-a")
    assert value("v2-b") is None and ("ns-a", "md-a") not in ours.predictors
    assert REGISTRY.get_sample_value("mlops_modeldeployment_predictor_available",
                                     {"namespace": "ns-a", "name": "other", "predictor": "v9-z"}) == 1
