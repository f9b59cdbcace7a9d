{{/*
The operator's RBAC rules: the ONE place they are written. Everything else (ClusterRole, Roles,
the kustomize base via tests/install/generate.py) is rendered from these two lists.
Each rule names the API calls the operator makes; no wildcard verbs or resources.
*/}}

{{/* Rules on namespaced objects: granted by a ClusterRole (cluster-wide) or one Role per watched namespace. */}}
{{- define "mlops-operator.rules.namespaced" -}}
# kopf lists and watches the four kinds; the operator writes nothing but their status.
- apiGroups: ["mlops.dev"]
  resources: ["mlprojects", "trainingruns", "modeldeployments", "batchpredictions"]
  verbs: ["list", "watch"]
# Start TrainingRuns (new dataset versions, schedules); read one back when it already exists.
- apiGroups: ["mlops.dev"]
  resources: ["trainingruns"]
  verbs: ["create", "get"]
# Write status through the status subresource.
- apiGroups: ["mlops.dev"]
  resources: ["mlprojects/status", "trainingruns/status", "modeldeployments/status", "batchpredictions/status"]
  verbs: ["patch"]
{{ include "mlops-operator.rules.serving" . }}
{{- with .Values.storage.secretName }}
# The object store's keys (storage.secretName and storage.extraSecretNames): these Secrets only, by name.
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: {{ prepend ($.Values.storage.extraSecretNames | default list) . | toJson }}
  verbs: ["get"]
{{- end }}
# Events on the four kinds (training verdicts, rollout decisions, batch runs).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if and .Values.peering.enabled (not (include "mlops-operator.clusterWide" .)) }}
# kopf peering in namespaced mode: a KopfPeering in each watched namespace.
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}

{{/* Serving: SeldonDeployments live beside their ModelDeployment (owner references stay in one namespace). */}}
{{- define "mlops-operator.rules.serving" -}}
# One SeldonDeployment per ModelDeployment: read (watched into an index), create, patch. The garbage collector deletes it
# with its owner, so no delete.
- apiGroups: ["machinelearning.seldon.io"]
  resources: ["seldondeployments"]
  verbs: ["get", "list", "watch", "create", "patch"]
{{- end }}

{{/* Rules on cluster-scoped objects: always a ClusterRole. */}}
{{- define "mlops-operator.rules.cluster" -}}
# kopf discovers the served resources by watching CRDs.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- if include "mlops-operator.clusterWide" . }}
{{- if .Values.peering.enabled }}
# kopf peering in cluster-wide mode: one ClusterKopfPeering.
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}
{{- end }}
