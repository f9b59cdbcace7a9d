"""Pure decisions: what the operator should do, computed without Kubernetes, HTTP or kopf."""
