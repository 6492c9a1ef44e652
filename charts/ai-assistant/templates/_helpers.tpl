{{/*
ai-assistant.name: the chart name, or nameOverride.
*/}}
{{- define "ai-assistant.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
ai-assistant.fullname: the prefix of every object name. Truncated to 55 characters so that
"<fullname>-preview", the longest Service name, still fits the 63-character DNS label limit.
*/}}
{{- define "ai-assistant.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
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
ai-assistant.colorLabels: the labels of one colour's objects (not its pods), with its version.
Call with (dict "root" $ "color" "blue").
*/}}
{{- define "ai-assistant.colorLabels" -}}
{{ include "ai-assistant.labels" .root }}
color: {{ .color }}
app.kubernetes.io/version: {{ include "ai-assistant.colorTag" . | trunc 63 | trimSuffix "-" | quote }}
{{- end }}

{{/*
ai-assistant.podLabels: the labels of one colour's pods. No chart or app version: a label in the
pod template rolls the pods when it changes, so a chart upgrade would roll the live colour.
Call with (dict "root" $ "color" "blue").
*/}}
{{- define "ai-assistant.podLabels" -}}
{{ include "ai-assistant.colorSelectorLabels" . }}
app.kubernetes.io/part-of: {{ include "ai-assistant.name" .root }}
{{- end }}

{{/*
ai-assistant.colorValues: one colour's snapshot, every value that shapes its pods: the shared
key, or the colour's own key of the same name when it sets one. Maps of strings (config,
secrets, podAnnotations, podLabels) merge key by key, the colour's key winning; every other
key is replaced wholesale when the colour sets it, and null follows the shared key. The colour's
`env` is added after its extraEnv, an entry replacing one of the same name.
Call with (dict "root" $ "color" "blue" "out" (dict)): the snapshot is written into "out", so
callers get typed values without a toYaml/fromYaml round trip.
*/}}
{{- define "ai-assistant.colorValues" -}}
{{- $v := .root.Values }}
{{- $c := index $v .color }}
{{- range $key := include "ai-assistant.replacedKeys" . | splitList " " }}
{{- $own := index $c $key }}
{{- $_ := set $.out $key (ternary (index $v $key) $own (kindIs "invalid" $own)) }}
{{- end }}
{{- range $key := list "config" "secrets" "podAnnotations" "podLabels" }}
{{- $merged := deepCopy (index $v $key | default dict) }}
{{- range $k, $val := (index $c $key | default dict) }}
{{- $_ := set $merged $k $val }}
{{- end }}
{{- $_ := set $.out $key $merged }}
{{- end }}
{{- $own := dict }}
{{- range $c.env }}
{{- $_ := set $own .name true }}
{{- end }}
{{- $env := list }}
{{- range $.out.extraEnv }}
{{- if not (hasKey $own .name) }}
{{- $env = append $env . }}
{{- end }}
{{- end }}
{{- $_ := set .out "env" (concat $env ($c.env | default list)) }}
{{- $_ := set .out "imagePullPolicy" (default $v.image.pullPolicy $c.image.pullPolicy) }}
{{- $_ := set .out "image" (include "ai-assistant.colorImage" .) }}
{{- $_ := set .out "configMapName" (printf "%s-%s" (include "ai-assistant.fullname" .root) .color) }}
{{- $_ := set .out "secretName" (default (printf "%s-%s" (include "ai-assistant.fullname" .root) .color) $.out.existingSecret) }}
{{- end }}

{{/*
ai-assistant.replacedKeys: the pod-shaping keys a colour replaces wholesale (see colorValues).
*/}}
{{- define "ai-assistant.replacedKeys" -}}
existingSecret extraEnv resources livenessProbe readinessProbe startupProbe podSecurityContext securityContext terminationGracePeriodSeconds preStopSleepSeconds nodeSelector tolerations affinity topologySpread priorityClassName imagePullSecrets extraVolumes extraVolumeMounts
{{- end }}

{{/*
ai-assistant.configData: the data of one colour's ConfigMap, from its snapshot (colorValues).
The pods' checksum/config hashes this text, so it rolls them exactly when the data changes.
*/}}
{{- define "ai-assistant.configData" -}}
{{- range $key, $value := .config }}
{{ $key }}: {{ toString $value | quote }}
{{- end }}
{{- end }}

{{/*
ai-assistant.secretData: the stringData of one colour's Secret, from its snapshot (colorValues).
*/}}
{{- define "ai-assistant.secretData" -}}
{{- range $key, $value := .secrets }}
{{ $key }}: {{ toString $value | quote }}
{{- end }}
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
{{- $repo := default .root.Values.image.repository $c.image.repository }}
{{- if $c.image.digest }}
{{- printf "%s@%s" $repo $c.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (include "ai-assistant.colorTag" .) }}
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
ai-assistant.ingressAnnotations: an Ingress's annotations as YAML, with the legacy
`kubernetes.io/ingress.class` set to ingress.className when ingress.classBy asks for it.
Called with (dict "root" $ "annotations" <map>); empty when there are none.
*/}}
{{- define "ai-assistant.ingressAnnotations" -}}
{{- $out := merge (dict) (.annotations | default dict) }}
{{- $ing := .root.Values.ingress }}
{{- if and $ing.className (has (include "ai-assistant.ingressClassBy" .root) (list "annotation" "both")) }}
{{- $_ := set $out "kubernetes.io/ingress.class" $ing.className }}
{{- end }}
{{- with $out }}
{{- toYaml . }}
{{- end }}
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
{{- if not (or .Values.autoscaling.targetCPUUtilizationPercentage .Values.autoscaling.targetMemoryUtilizationPercentage .Values.autoscaling.requestsPerSecond.enabled .Values.autoscaling.metrics) }}
{{- fail "autoscaling.enabled is true but no metric is set: set autoscaling.targetCPUUtilizationPercentage, autoscaling.targetMemoryUtilizationPercentage, autoscaling.requestsPerSecond.enabled or autoscaling.metrics" }}
{{- end }}
{{- end }}
{{- range $color := list "blue" "green" }}
{{- $v := dict }}
{{- include "ai-assistant.colorValues" (dict "root" $ "color" $color "out" $v) }}
{{- if and $v.preStopSleepSeconds (ge (int $v.preStopSleepSeconds) (int $v.terminationGracePeriodSeconds)) }}
{{- $c := index $.Values $color }}
{{- $pre := ternary "preStopSleepSeconds" (printf "%s.preStopSleepSeconds" $color) (kindIs "invalid" $c.preStopSleepSeconds) }}
{{- $grace := ternary "terminationGracePeriodSeconds" (printf "%s.terminationGracePeriodSeconds" $color) (kindIs "invalid" $c.terminationGracePeriodSeconds) }}
{{- fail (printf "%s (%d) must be less than %s (%d), or %s's pods are killed before they can drain" $pre (int $v.preStopSleepSeconds) $grace (int $v.terminationGracePeriodSeconds) $color) }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (include "ai-assistant.podMonitor" .) }}
{{- fail "metrics.serviceMonitor.enabled and metrics.podMonitor.enabled are both true: every pod would be scraped twice and every sum doubled. Keep one (the PodMonitor also scrapes the idle colour with previewService.enabled=false)" }}
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
{{- if and (not .Values.ingress.className) (ne (include "ai-assistant.ingressClassBy" .) "ingressClassName") }}
{{- fail (printf "ingress.classBy is %s but ingress.className is empty: name the class, or set ingress.classBy to ingressClassName for the cluster's default class" .Values.ingress.classBy) }}
{{- end }}
{{- if include "ai-assistant.ingressPreview" . }}
{{- if not .Values.previewService.enabled }}
{{- fail "ingress.preview.enabled is true but previewService.enabled is false: the preview Ingress routes to the preview Service" }}
{{- end }}
{{- if not .Values.ingress.preview.hosts }}
{{- fail "ingress.preview.enabled is true but ingress.preview.hosts is empty" }}
{{- end }}
{{- $mainSecrets := list }}
{{- range .Values.ingress.tls }}{{ $mainSecrets = append $mainSecrets .secretName }}{{ end }}
{{- range $i, $tls := .Values.ingress.preview.tls }}
{{- if or (not $tls.hosts) (not $tls.secretName) }}
{{- fail (printf "ingress.preview.tls[%d] needs hosts and a secretName" $i) }}
{{- end }}
{{- if has $tls.secretName $mainSecrets }}
{{- fail (printf "ingress.preview.tls[%d].secretName %s is also in ingress.tls: cert-manager would issue one Certificate for two Ingresses' hosts; give the preview its own Secret" $i $tls.secretName) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.requestsPerSecond.enabled (not .Values.autoscaling.enabled) }}
{{- fail "autoscaling.requestsPerSecond.enabled is true but autoscaling.enabled is false" }}
{{- end }}
{{- end }}

{{/*
ai-assistant.snapshotDiff: the keys in which two colours' snapshots differ, as a comma-separated
list ("image, config.DEFAULT_MODEL, resources"); a secret is named by key, its value never shown.
Call with (dict "root" $ "a" "blue" "b" "green").
*/}}
{{- define "ai-assistant.snapshotDiff" -}}
{{- $a := dict }}
{{- $b := dict }}
{{- include "ai-assistant.colorValues" (dict "root" .root "color" .a "out" $a) }}
{{- include "ai-assistant.colorValues" (dict "root" .root "color" .b "out" $b) }}
{{- $diff := list }}
{{- range $key := concat (list "image" "imagePullPolicy" "env") (include "ai-assistant.replacedKeys" . | splitList " ") }}
{{- if ne (toJson (index $a $key)) (toJson (index $b $key)) }}
{{- $diff = append $diff $key }}
{{- end }}
{{- end }}
{{- range $key := list "config" "secrets" "podAnnotations" "podLabels" }}
{{- $ma := index $a $key }}
{{- $mb := index $b $key }}
{{- range $k := concat (keys $ma) (keys $mb) | uniq | sortAlpha }}
{{- if ne (toJson (index $ma $k)) (toJson (index $mb $k)) }}
{{- $diff = append $diff (printf "%s.%s" $key $k) }}
{{- end }}
{{- end }}
{{- end }}
{{- join ", " $diff }}
{{- end }}

{{/*
ai-assistant.colorOverrides: the pod-shaping keys a colour sets for itself, comma-separated.
*/}}
{{- define "ai-assistant.colorOverrides" -}}
{{- $c := index .root.Values .color }}
{{- $own := list }}
{{- range $key := include "ai-assistant.replacedKeys" . | splitList " " }}
{{- if not (kindIs "invalid" (index $c $key)) }}
{{- $own = append $own $key }}
{{- end }}
{{- end }}
{{- range $key := list "config" "secrets" "podAnnotations" "podLabels" }}
{{- range $k, $_ := (index $c $key | default dict) }}
{{- $own = append $own (printf "%s.%s" $key $k) }}
{{- end }}
{{- end }}
{{- range $key := list "repository" "pullPolicy" }}
{{- if not (kindIs "invalid" (index $c.image $key)) }}
{{- $own = append $own (printf "image.%s" $key) }}
{{- end }}
{{- end }}
{{- if $c.env }}
{{- $own = append $own "env" }}
{{- end }}
{{- join ", " $own }}
{{- end }}

{{/*
Keys added after 0.3.0, read with their defaults: `helm upgrade --reuse-values` renders a new
version with the old release's values alone, none of the new version's values.yaml, so a key
the old version did not have is absent there (and the schema leaves it optional).
*/}}
{{/* ai-assistant.ingressClassBy: ingress.classBy, default ingressClassName. */}}
{{- define "ai-assistant.ingressClassBy" -}}
{{- default "ingressClassName" .Values.ingress.classBy }}
{{- end }}

{{/* ai-assistant.ingressPreview: "true" when the preview Ingress is on, else empty. */}}
{{- define "ai-assistant.ingressPreview" -}}
{{- if dig "preview" "enabled" false .Values.ingress }}true{{ end }}
{{- end }}

{{/* ai-assistant.podMonitor: "true" when the PodMonitor is on, else empty. */}}
{{- define "ai-assistant.podMonitor" -}}
{{- if dig "podMonitor" "enabled" false .Values.metrics }}true{{ end }}
{{- end }}

{{/* ai-assistant.alertFor: each alert's `for` as YAML, metrics.prometheusRule.for over
values.yaml's defaults. */}}
{{- define "ai-assistant.alertFor" -}}
{{- $defaults := dict "noReadyPods" "1m" "podsNotReady" "10m" "dependencyDown" "2m" "errorRatio" "5m" "latency" "10m" }}
{{- merge (dict) (.Values.metrics.prometheusRule.for | default dict) $defaults | toYaml }}
{{- end }}
