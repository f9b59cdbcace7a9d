"""mlops-operator: the ML lifecycle as Kubernetes custom resources."""
