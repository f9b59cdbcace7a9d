"""Install tests: Helm chart, kustomize manifests, Argo CD health checks, images (all offline)."""
