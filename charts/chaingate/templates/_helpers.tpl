{{/* Chart name. */}}
{{- define "chaingate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: also the name of the Service, the ValidatingWebhookConfiguration, the ClusterRole and
the cert-manager Certificate. Truncated to 52 characters so "<fullname>-serving-cert" still fits 63.
*/}}
{{- define "chaingate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "chaingate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chaingate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chaingate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chaingate.labels" -}}
helm.sh/chart: {{ include "chaingate.chart" . }}
{{ include "chaingate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: k0rdent
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "chaingate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chaingate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret in which chaingate keeps its CA and serving certificate (certs.mode self). */}}
{{- define "chaingate.selfCertSecret" -}}
{{- printf "%s-tls" (include "chaingate.fullname" .) }}
{{- end }}

{{/* Secret written by cert-manager (certs.mode cert-manager). */}}
{{- define "chaingate.certManagerSecret" -}}
{{- printf "%s-serving-cert" (include "chaingate.fullname" .) }}
{{- end }}

{{/* DNS names of the Service, for the serving certificate. */}}
{{- define "chaingate.dnsNames" -}}
{{- $svc := include "chaingate.fullname" . -}}
- {{ printf "%s.%s.svc" $svc .Release.Namespace }}
- {{ printf "%s.%s.svc.cluster.local" $svc .Release.Namespace }}
{{- end }}

{{- define "chaingate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Checks that values cannot express in the schema alone. */}}
{{- define "chaingate.validate" -}}
{{- if and (not .Values.webhook.enabled) (not .Values.controller.enabled) }}
{{- fail "webhook.enabled and controller.enabled are both false: chaingate would have nothing to do" }}
{{- end }}
{{- end }}

{{/* The Lease chaingate's status controller elects its leader with (fixed in chaingate). */}}
{{- define "chaingate.leaseName" -}}
chaingate-controller
{{- end }}
