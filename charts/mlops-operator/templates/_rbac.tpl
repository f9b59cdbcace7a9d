{{/*
The operator's RBAC rules: the ONE place they are written. Everything else (ClusterRole, Roles,
the kustomize base via tests/install/generate.py) is rendered from these two lists.
Each rule names the API calls the operator makes; no wildcard verbs or resources.
*/}}

{{/* Rules on namespaced objects: granted by a ClusterRole (cluster-wide) or one Role per watched namespace. */}}
{{- define "mlops-operator.rules.namespaced" -}}
# Watch the three kinds and patch them (kopf finalizers/annotations, approval bookkeeping).
- apiGroups: ["mlops.dev"]
  resources: ["mlprojects", "trainingruns", "modeldeployments"]
  verbs: ["get", "list", "watch", "patch"]
# Start TrainingRuns (schedules, new dataset versions, drift).
- apiGroups: ["mlops.dev"]
  resources: ["trainingruns"]
  verbs: ["create"]
# Write status through the status subresource.
- apiGroups: ["mlops.dev"]
  resources: ["mlprojects/status", "trainingruns/status", "modeldeployments/status"]
  verbs: ["get", "patch", "update"]
{{ include "mlops-operator.rules.serving" . }}
# kopf posts events for handler progress and errors (core/v1 and events.k8s.io/v1).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if and .Values.peering.enabled (not (include "mlops-operator.clusterWide" .)) }}
# kopf peering in namespaced mode: a KopfPeering in each watched namespace.
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}

{{/* Serving: also granted alone in serving.seldonNamespace when that namespace is not watched. */}}
{{- define "mlops-operator.rules.serving" -}}
# Serve models through Seldon Core.
- apiGroups: ["machinelearning.seldon.io"]
  resources: ["seldondeployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}

{{/* Rules on cluster-scoped objects: always a ClusterRole. */}}
{{- define "mlops-operator.rules.cluster" -}}
# kopf discovers the served resources by watching CRDs.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- if include "mlops-operator.clusterWide" . }}
# Cluster-wide mode: kopf follows namespaces as they come and go.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- if .Values.peering.enabled }}
# kopf peering in cluster-wide mode: one ClusterKopfPeering.
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}
{{- end }}
