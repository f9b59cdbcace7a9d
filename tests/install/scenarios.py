"""Value combinations the chart is rendered with in the tests."""
from __future__ import annotations

from typing import Any

SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "namespaced-2": {"watchNamespaces": ["team-a", "team-b"]},
    "peering-2-replicas": {"replicas": 2, "peering": {"enabled": True, "name": "mlops"}},
    "namespaced-peering": {"watchNamespaces": ["team-a", "team-b"], "replicas": 2, "peering": {"enabled": True}},
    "monitoring": {
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
            "prometheusRule": {"enabled": True},
            "grafanaDashboard": {"enabled": True},
        }
    },
    "kfp": {
        "training": {"backend": "kfp", "kfp": {"endpoint": "http://ml-pipeline.kubeflow:8888", "experiment": "churn"}},
        "metrics": {"provider": "prometheus", "prometheusUrl": "http://prometheus-operated.monitoring:9090"},
    },
    "admission-policy": {
        "admissionPolicy": {"enabled": True, "approvers": {"users": ["alice"], "groups": ["ml-leads"]}},
    },
    "everything": {
        "watchNamespaces": ["team-a"],
        "replicas": 3,
        "peering": {"enabled": True},
        "image": {"digest": "sha256:" + "ab" * 32},
        "imagePullSecrets": ["regcred"],
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "ml", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "system-cluster-critical",
        "podAnnotations": {"example.com/team": "ml"},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/mlops"}},
        "operator": {"logLevel": "debug", "logFormat": "plain"},
        "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
                    "grafanaDashboard": {"enabled": True, "namespace": "monitoring"}},
        "admissionPolicy": {"enabled": True, "approvers": {"users": ["alice", "bob"]}},
    },
}
