{{/* Chart name, overridable. */}}
{{- define "orgsecrets.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "orgsecrets.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "orgsecrets.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "orgsecrets.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "orgsecrets.controllerName" -}}
{{- printf "%s-controller" (include "orgsecrets.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "orgsecrets.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "orgsecrets.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orgsecrets.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "orgsecrets.labels" -}}
helm.sh/chart: {{ include "orgsecrets.chart" . }}
{{ include "orgsecrets.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: orgsecrets
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "orgsecrets.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "orgsecrets.controllerName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "orgsecrets.webhookSecretName" -}}
{{- if .Values.webhook.existingSecret -}}
{{- .Values.webhook.existingSecret -}}
{{- else -}}
{{- printf "%s-webhook-tls" (include "orgsecrets.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "orgsecrets.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
