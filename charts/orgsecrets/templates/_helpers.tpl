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

{{/* Every value that comes from values or the release is quoted: an
unquoted 2024, on, no, 012, 0x1f, 1e3 or null would not be a string. */}}
{{- define "orgsecrets.selectorLabels" -}}
app.kubernetes.io/name: {{ include "orgsecrets.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "orgsecrets.labels" -}}
helm.sh/chart: {{ include "orgsecrets.chart" . | quote }}
{{ include "orgsecrets.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: orgsecrets
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}

{{/* Never the namespace's "default": orgsecrets.checks requires a name when
serviceAccount.create is false. */}}
{{- define "orgsecrets.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "orgsecrets.controllerName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.create=false needs serviceAccount.name" .Values.serviceAccount.name -}}
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

{{/* The PodDisruptionBudget's minAvailable, quoted when a percentage, or ""
when there is no budget: pdb.enabled is false, or the replicas could not
satisfy it (minAvailable 1 of 1 replica would block every node drain). */}}
{{- define "orgsecrets.pdbMinAvailable" -}}
{{- $replicas := int .Values.replicaCount -}}
{{- $min := .Values.pdb.minAvailable | default 1 -}}
{{- $needed := 0 -}}
{{- if kindIs "string" $min -}}
{{- $needed = div (add (mul $replicas (trimSuffix "%" $min | int)) 99) 100 -}}
{{- else -}}
{{- $needed = int $min -}}
{{- end -}}
{{- if and .Values.pdb.enabled (lt (int $needed) $replicas) -}}
{{- if kindIs "string" $min }}{{ $min | quote }}{{ else }}{{ int $min }}{{ end -}}
{{- end -}}
{{- end -}}
