"""The PrometheusRule's alerts, checked and unit-tested with promtool (Debian package `prometheus`)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .paths import NAMESPACE
from .render import one, render_chart

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: `make debs` installs prometheus")

SERVICE_JOB = "mlops-operator-metrics"


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory) -> Path:
    rule = one(render_chart({"metrics": {"prometheusRule": {"enabled": True}}}), "PrometheusRule")
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False, timeout=120)


def test_rules_are_valid_promql(rules_file):
    result = _promtool("check", "rules", str(rules_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 rules found" in result.stdout


def _alerts(rules_file: Path, name: str) -> dict[str, str]:
    groups = yaml.safe_load(rules_file.read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r["alert"] == name)
    return rule["annotations"]


def test_alerts_fire_on_the_right_series_and_only_then(rules_file, tmp_path):
    rollback = _alerts(rules_file, "MLOpsRolloutRolledBack")
    failures = _alerts(rules_file, "MLOpsTrainingFailures")
    down = _alerts(rules_file, "MLOpsOperatorDown")
    lost = _alerts(rules_file, "MLOpsPredictorUnavailable")
    drifted = _alerts(rules_file, "MLOpsModelDrifted")
    quality = _alerts(rules_file, "MLOpsRolloutRolledBackOnQuality")
    tests = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'up{{job="{SERVICE_JOB}", namespace="{NAMESPACE}"}}', "values": "1x5 0x15"},
                    {"series": 'mlops_modeldeployment_rollbacks_total{namespace="ml-team", name="churn"}',
                     "values": "0 0 0 1 1 1"},
                    {"series": 'mlops_modeldeployment_rollbacks_total{namespace="ml-team", name="stable"}',
                     "values": "2x10"},
                    {"series": 'mlops_modeldeployment_quality_rollbacks_total{namespace="ml-team", name="churn", '
                               'metric="accuracy"}', "values": "0 0 0 0 1 1"},
                    {"series": 'mlops_modeldeployment_quality_rollbacks_total{namespace="ml-team", name="old", '
                               'metric="logLoss"}', "values": "3x10"},  # rolled back long ago: quiet
                    {"series": 'mlops_trainingrun_completed_total{namespace="ml-team", project="churn", phase="Failed"}',
                     "values": "0 0 1 1"},
                    {"series": 'mlops_trainingrun_completed_total{namespace="ml-team", project="churn", phase="Blessed"}',
                     "values": "0 1 2 3"},
                    {"series": 'mlops_modeldeployment_predictor_available{namespace="ml-team", name="churn", '
                               'predictor="v1-abc123"}', "values": "1 1 0 0 0 0 1 1"},
                    {"series": 'mlops_modeldeployment_predictor_available{namespace="ml-team", name="churn", '
                               'predictor="v2-def456"}', "values": "1 0 1 0 1 0 1 0"},  # flapping: never 2m
                    {"series": 'mlops_mlproject_drifted{namespace="ml-team", project="churn", pod="op-1"}',
                     "values": "0 0 1 1 1 1 1 1 1 0"},
                    {"series": 'mlops_mlproject_drifted{namespace="ml-team", project="calm", pod="op-1"}',
                     "values": "0 1 0 1 0 1 0 1 0 1"},  # flapping: never 5m
                ],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "MLOpsOperatorDown", "exp_alerts": []},
                    {"eval_time": "15m", "alertname": "MLOpsOperatorDown", "exp_alerts": [
                        {"exp_labels": {"severity": "critical"},
                         "exp_annotations": {**down}},
                    ]},
                    {"eval_time": "2m", "alertname": "MLOpsRolloutRolledBack", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "MLOpsRolloutRolledBack", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "namespace": "ml-team", "name": "churn"},
                         "exp_annotations": {
                             "summary": rollback["summary"],
                             "description": rollback["description"].replace("{{ $labels.namespace }}", "ml-team")
                                                                   .replace("{{ $labels.name }}", "churn"),
                         }},
                    ]},
                    {"eval_time": "3m", "alertname": "MLOpsRolloutRolledBackOnQuality", "exp_alerts": []},
                    {"eval_time": "6m", "alertname": "MLOpsRolloutRolledBackOnQuality", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "namespace": "ml-team", "name": "churn",
                                        "metric": "accuracy"},
                         "exp_annotations": {
                             "summary": quality["summary"],
                             "description": quality["description"].replace("{{ $labels.namespace }}", "ml-team")
                                                                  .replace("{{ $labels.name }}", "churn")
                                                                  .replace("{{ $labels.metric }}", "accuracy"),
                         }},
                    ]},
                    {"eval_time": "3m", "alertname": "MLOpsPredictorUnavailable", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "MLOpsPredictorUnavailable", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "namespace": "ml-team", "name": "churn",
                                        "predictor": "v1-abc123"},
                         "exp_annotations": {
                             "summary": lost["summary"],
                             "description": lost["description"].replace("{{ $labels.namespace }}", "ml-team")
                                                               .replace("{{ $labels.name }}", "churn")
                                                               .replace("{{ $labels.predictor }}", "v1-abc123"),
                         }},
                    ]},
                    {"eval_time": "7m", "alertname": "MLOpsPredictorUnavailable", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "MLOpsModelDrifted", "exp_alerts": []},
                    {"eval_time": "8m", "alertname": "MLOpsModelDrifted", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "namespace": "ml-team", "project": "churn"},
                         "exp_annotations": {
                             "summary": drifted["summary"],
                             "description": drifted["description"].replace("{{ $labels.namespace }}", "ml-team")
                                                                   .replace("{{ $labels.project }}", "churn"),
                         }},
                    ]},
                    {"eval_time": "10m", "alertname": "MLOpsModelDrifted", "exp_alerts": []},
                    {"eval_time": "3m", "alertname": "MLOpsTrainingFailures", "exp_alerts": [
                        {"exp_labels": {"severity": "warning", "namespace": "ml-team", "project": "churn"},
                         "exp_annotations": {
                             "summary": failures["summary"],
                             "description": failures["description"].replace("{{ $labels.namespace }}", "ml-team")
                                                                   .replace("{{ $labels.project }}", "churn"),
                         }},
                    ]},
                ],
            }
        ],
    }
    test_file = tmp_path / "alerts_test.yaml"
    test_file.write_text(yaml.safe_dump(tests))
    result = _promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
