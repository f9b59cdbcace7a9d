"""Kubeflow Pipeline components of the mlops-operator training pipeline."""
