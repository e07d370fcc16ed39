{{/* Value combinations that would render but break the release, refused
with a message that says what to set. Included by deployment.yaml. */}}
{{- define "orgsecrets.checks" -}}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "serviceAccount.create=false needs serviceAccount.name, the existing ServiceAccount to run as (the controller's ClusterRole is bound to it; never the namespace's \"default\")" }}
{{- end }}
{{- if and (not .Values.leaderElection.enabled) (gt (int .Values.replicaCount) 1) }}
{{- fail (printf "leaderElection.enabled=false with replicaCount=%d would run %d controllers writing at once: keep leader election on, or set replicaCount=1" (int .Values.replicaCount) (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.webhook.enabled }}
{{- if .Values.webhook.certManager.enabled }}
{{- if .Values.webhook.existingSecret }}
{{- fail "webhook.existingSecret is your own TLS Secret, which cert-manager (webhook.certManager.enabled=true) would take over: set webhook.certManager.enabled=false and webhook.caBundle, or leave webhook.existingSecret empty" }}
{{- end }}
{{- if not (.Capabilities.APIVersions.Has "cert-manager.io/v1") }}
{{- fail "webhook.certManager.enabled=true needs cert-manager, but the cluster does not serve cert-manager.io/v1: install cert-manager first, or set webhook.certManager.enabled=false with webhook.existingSecret and webhook.caBundle, or webhook.enabled=false (helm template: --api-versions cert-manager.io/v1)" }}
{{- end }}
{{- else if not .Values.webhook.existingSecret }}
{{- fail "webhook.certManager.enabled=false needs webhook.existingSecret (a kubernetes.io/tls Secret for the webhook's Service) and webhook.caBundle (the base64 PEM CA that signed it), or webhook.enabled=false" }}
{{- else if not .Values.webhook.caBundle }}
{{- fail "webhook.existingSecret needs webhook.caBundle, the base64 PEM CA that signed its certificate: without it the API server cannot call the webhook and every labelled pod creation fails" }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}
{{- fail "metrics.serviceMonitor.enabled=true needs the Prometheus Operator, but the cluster does not serve monitoring.coreos.com/v1: install it (or its CRDs) first, or set metrics.serviceMonitor.enabled=false (helm template: --api-versions monitoring.coreos.com/v1)" }}
{{- end }}
{{- end -}}
