{{/* Names, labels and the operator's command line, shared by every template. */}}

{{- define "mlops-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlops-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mlops-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlops-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlops-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlops-operator.labels" -}}
helm.sh/chart: {{ include "mlops-operator.chart" . }}
{{ include "mlops-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: mlops-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mlops-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlops-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mlops-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* True (non-empty) when the operator watches the whole cluster. */}}
{{- define "mlops-operator.clusterWide" -}}
{{- if not .Values.watchNamespaces }}true{{ end }}
{{- end }}

{{/* Fail early on value combinations the operator cannot run with. */}}
{{- define "mlops-operator.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) }}
{{- fail "replicas > 1 requires peering.enabled=true (kopf peering elects the one active pod)" }}
{{- end }}
{{- if not (has .Values.training.backend (list "local" "kfp")) }}
{{- fail (printf "training.backend must be local or kfp, not %q" .Values.training.backend) }}
{{- end }}
{{- if and (eq .Values.training.backend "kfp") (not .Values.training.kfp.endpoint) }}
{{- fail "training.kfp.endpoint is required when training.backend=kfp" }}
{{- end }}
{{- $storage := or .Values.storage.secretName .Values.storage.endpoint }}
{{- if and (eq .Values.training.backend "local") (not $storage) (not .Values.training.local.trainOnly) }}
{{- fail "training.backend=local without object storage keeps models in the operator pod, where Seldon's pods cannot load them: set storage.endpoint and storage.secretName (README: Object storage), or training.backend=kfp with storage, or training.local.trainOnly=true to train without serving" }}
{{- end }}
{{- if and (or (eq .Values.training.backend "kfp") $storage) (not (hasPrefix "s3://" (.Values.training.kfp.artifactRoot | default ""))) }}
{{- fail (printf "training.kfp.artifactRoot must be an s3:// prefix when training.backend=kfp or storage is configured (task and Seldon pods cannot read %q)" .Values.training.kfp.artifactRoot) }}
{{- end }}
{{- if and .Values.storage.endpoint (not (regexMatch "^https?://[^/]+" .Values.storage.endpoint)) }}
{{- fail (printf "storage.endpoint must be an http:// or https:// URL, not %q" .Values.storage.endpoint) }}
{{- end }}
{{- if not (kindIs "bool" .Values.storage.verifyTls) }}
{{- fail (printf "storage.verifyTls must be true or false, not %q" (toString .Values.storage.verifyTls)) }}
{{- end }}
{{- if and .Values.storage.extraSecretNames (not .Values.storage.secretName) }}
{{- fail "storage.extraSecretNames needs storage.secretName (the operator-wide Secret) too" }}
{{- end }}
{{- if not (has .Values.metrics.provider (list "scrape" "prometheus")) }}
{{- fail (printf "metrics.provider must be scrape or prometheus, not %q" .Values.metrics.provider) }}
{{- end }}
{{- if and (eq .Values.metrics.provider "prometheus") (not .Values.metrics.prometheusUrl) }}
{{- fail "metrics.prometheusUrl is required when metrics.provider=prometheus" }}
{{- end }}
{{- if and (eq .Values.metrics.provider "scrape") (not (contains "{service}" (.Values.metrics.scrape.seldonUrl | default ""))) }}
{{- fail "metrics.scrape.seldonUrl must contain {service} when metrics.provider=scrape (without it the operator would look for the local splitter, which a cluster does not have)" }}
{{- end }}
{{- if not (has .Values.operator.logLevel (list "debug" "verbose" "info" "quiet")) }}
{{- fail (printf "operator.logLevel must be debug, verbose, info or quiet, not %q" .Values.operator.logLevel) }}
{{- end }}
{{- if not (has .Values.operator.logFormat (list "plain" "full" "json")) }}
{{- fail (printf "operator.logFormat must be plain, full or json, not %q" .Values.operator.logFormat) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled requires metrics.service.enabled" }}
{{- end }}
{{- if and .Values.admissionPolicy.enabled (not (or .Values.admissionPolicy.approvers.users .Values.admissionPolicy.approvers.groups)) }}
{{- fail "admissionPolicy.enabled requires at least one of admissionPolicy.approvers.users or .groups" }}
{{- end }}
{{- end }}

{{/* kopf's command line (the image's entrypoint is `kopf`). */}}
{{- define "mlops-operator.args" -}}
- run
{{- if include "mlops-operator.clusterWide" . }}
- --all-namespaces
{{- else }}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
{{- end }}
{{- if .Values.peering.enabled }}
- --peering={{ .Values.peering.name }}
{{- else }}
- --standalone
{{- end }}
- --liveness=http://0.0.0.0:{{ .Values.operator.healthPort }}/healthz
- --log-format={{ .Values.operator.logFormat }}
{{- if ne .Values.operator.logLevel "info" }}
- --{{ .Values.operator.logLevel }}
{{- end }}
- -m
- {{ .Values.operator.module }}
{{- end }}

{{/* The monitor: its own name and selector, so neither the operator's Deployment nor its Service selects monitor pods. */}}
{{- define "mlops-operator.monitorName" -}}
{{- printf "%s-monitor" (include "mlops-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mlops-operator.monitorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "mlops-operator.name" . }}-monitor
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mlops-operator.monitorLabels" -}}
helm.sh/chart: {{ include "mlops-operator.chart" . }}
{{ include "mlops-operator.monitorSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: monitor
app.kubernetes.io/part-of: mlops-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mlops-operator.monitorSecretName" -}}
{{- default (printf "%s-token" (include "mlops-operator.monitorName" .)) .Values.monitor.token.existingSecret }}
{{- end }}

{{/* Base URL of the monitor's API (token-protected) and of its log endpoint (NetworkPolicy-protected). */}}
{{- define "mlops-operator.monitorUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "mlops-operator.monitorName" .) .Release.Namespace .Values.monitor.service.apiPort }}
{{- end }}

{{- define "mlops-operator.monitorLogUrl" -}}
{{- printf "http://%s.%s.svc:%v/log" (include "mlops-operator.monitorName" .) .Release.Namespace .Values.monitor.service.logPort }}
{{- end }}
