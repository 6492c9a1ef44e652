{{/*
ai-assistant.name: the chart name, or nameOverride.
*/}}
{{- define "ai-assistant.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ai-assistant.fullname: the prefix of every object name. Truncated to 56 characters so that
"-preview" (and "-green") still fit the 63-character DNS label limit.
*/}}
{{- define "ai-assistant.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 56 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 56 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
ai-assistant.namespace: the namespace of every object.
*/}}
{{- define "ai-assistant.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ai-assistant.chart: chart name and version for the helm.sh/chart label.
*/}}
{{- define "ai-assistant.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ai-assistant.labels: labels on every object.
*/}}
{{- define "ai-assistant.labels" -}}
helm.sh/chart: {{ include "ai-assistant.chart" . }}
{{ include "ai-assistant.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "ai-assistant.name" . }}
{{- end }}

{{/*
ai-assistant.selectorLabels: the labels that select this release's pods of both colours. Kept
apart from ai-assistant.labels because selectors are immutable: nothing that changes between
releases (chart version, image tag) may enter them.
*/}}
{{- define "ai-assistant.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ai-assistant.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ai-assistant.colorSelectorLabels: the labels that select one colour's pods.
Call with (dict "root" $ "color" "blue").
*/}}
{{- define "ai-assistant.colorSelectorLabels" -}}
{{ include "ai-assistant.selectorLabels" .root }}
color: {{ .color }}
{{- end }}

{{/*
ai-assistant.colorLabels: the labels of one colour's objects and pods, with its version.
Call with (dict "root" $ "color" "blue").
*/}}
{{- define "ai-assistant.colorLabels" -}}
{{ include "ai-assistant.labels" .root }}
color: {{ .color }}
app.kubernetes.io/version: {{ include "ai-assistant.colorTag" . | trunc 63 | trimSuffix "-" | quote }}
{{- end }}

{{/*
ai-assistant.idleColor: the colour that does not receive traffic.
*/}}
{{- define "ai-assistant.idleColor" -}}
{{- ternary "green" "blue" (eq .Values.activeColor "blue") }}
{{- end }}

{{/*
ai-assistant.colorTag: the image tag of one colour: its own tag, else image.tag, else appVersion.
Call with (dict "root" $ "color" "blue").
*/}}
{{- define "ai-assistant.colorTag" -}}
{{- $c := index .root.Values .color }}
{{- default (default .root.Chart.AppVersion .root.Values.image.tag) $c.image.tag }}
{{- end }}

{{/*
ai-assistant.colorImage: the image reference of one colour; a digest pins it and wins over the tag.
Call with (dict "root" $ "color" "blue").
*/}}
{{- define "ai-assistant.colorImage" -}}
{{- $c := index .root.Values .color }}
{{- if $c.image.digest }}
{{- printf "%s@%s" .root.Values.image.repository $c.image.digest }}
{{- else }}
{{- printf "%s:%s" .root.Values.image.repository (include "ai-assistant.colorTag" .) }}
{{- end }}
{{- end }}

{{/*
ai-assistant.colorReplicas: one colour's replica override as a string: "" when the colour follows
replicaCount/autoscaling, else the number ("0" when scaled to zero).
Call with (dict "root" $ "color" "blue").
*/}}
{{- define "ai-assistant.colorReplicas" -}}
{{- $r := (index .root.Values .color).replicas }}
{{- if not (kindIs "invalid" $r) }}{{ int $r }}{{ end }}
{{- end }}

{{/*
ai-assistant.serviceAccountName: the ServiceAccount the pods run as.
*/}}
{{- define "ai-assistant.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ai-assistant.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ai-assistant.secretName: the Secret the pods read credentials from.
*/}}
{{- define "ai-assistant.secretName" -}}
{{- default (printf "%s-secrets" (include "ai-assistant.fullname" .)) .Values.existingSecret }}
{{- end }}

{{/*
ai-assistant.validate: cross-field rules that values.schema.json cannot express. Each failure
names the keys involved and how to fix them; nothing is rendered, so nothing changes.
*/}}
{{- define "ai-assistant.validate" -}}
{{- $active := include "ai-assistant.colorReplicas" (dict "root" . "color" .Values.activeColor) }}
{{- if eq $active "0" }}
{{- fail (printf "activeColor=%s but %s.replicas is 0: the active colour would serve no traffic. Scale it up first (set %s.replicas to null or a number) or keep activeColor on the other colour." .Values.activeColor .Values.activeColor .Values.activeColor) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- if gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas) }}
{{- fail (printf "autoscaling.minReplicas (%d) is greater than autoscaling.maxReplicas (%d)" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- range $color := list "blue" "green" }}
{{- $r := include "ai-assistant.colorReplicas" (dict "root" $ "color" $color) }}
{{- if and $r (gt (int $r) (int $.Values.autoscaling.maxReplicas)) }}
{{- fail (printf "%s.replicas (%s) is greater than autoscaling.maxReplicas (%d): it would be the HPA's minReplicas" $color $r (int $.Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- end }}
{{- if not (or .Values.autoscaling.targetCPUUtilizationPercentage .Values.autoscaling.targetMemoryUtilizationPercentage .Values.autoscaling.requestsPerSecond.enabled) }}
{{- fail "autoscaling.enabled is true but no metric is set: set autoscaling.targetCPUUtilizationPercentage, autoscaling.targetMemoryUtilizationPercentage or autoscaling.requestsPerSecond.enabled" }}
{{- end }}
{{- end }}
{{- if and .Values.preStopSleepSeconds (ge (int .Values.preStopSleepSeconds) (int .Values.terminationGracePeriodSeconds)) }}
{{- fail (printf "preStopSleepSeconds (%d) must be less than terminationGracePeriodSeconds (%d), or the pod is killed before it can drain" (int .Values.preStopSleepSeconds) (int .Values.terminationGracePeriodSeconds)) }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget.minAvailable and podDisruptionBudget.maxUnavailable are both set: set one of them to null" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) }}
{{- fail "podDisruptionBudget.enabled is true but neither podDisruptionBudget.minAvailable nor podDisruptionBudget.maxUnavailable is set" }}
{{- end }}
{{- range $key, $svc := dict "service" .Values.service "previewService" .Values.previewService }}
{{- if and (eq $svc.type "ClusterIP") (not (kindIs "invalid" $svc.nodePort)) }}
{{- fail (printf "%s.nodePort is set but %s.type is ClusterIP: use NodePort or LoadBalancer, or set %s.nodePort to null" $key $key $key) }}
{{- end }}
{{- end }}
{{- if and .Values.previewService.enabled (not (kindIs "invalid" .Values.service.nodePort)) (not (kindIs "invalid" .Values.previewService.nodePort)) (eq (int .Values.service.nodePort) (int .Values.previewService.nodePort)) }}
{{- fail (printf "service.nodePort and previewService.nodePort are both %d: two Services cannot share a node port" (int .Values.service.nodePort)) }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- if not .Values.ingress.hosts }}
{{- fail "ingress.enabled is true but ingress.hosts is empty" }}
{{- end }}
{{- range $i, $tls := .Values.ingress.tls }}
{{- if not $tls.hosts }}
{{- fail (printf "ingress.tls[%d].hosts is empty: a TLS entry must name the hosts its certificate covers" $i) }}
{{- end }}
{{- if not $tls.secretName }}
{{- fail (printf "ingress.tls[%d].secretName is empty: name the Secret that holds (or cert-manager writes) the certificate" $i) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.requestsPerSecond.enabled (not .Values.autoscaling.enabled) }}
{{- fail "autoscaling.requestsPerSecond.enabled is true but autoscaling.enabled is false" }}
{{- end }}
{{- end }}
