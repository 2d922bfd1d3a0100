{{/* Chart name, truncated to 63 characters (a DNS label). */}}
{{- define "ns.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, with the chart name appended unless the release
name already contains it. Truncated to 52 characters, leaving room for the
"-peers" suffix and the StatefulSet's pod ordinal and revision hash labels.
*/}}
{{- define "ns.fullname" -}}
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

{{/* The headless Service the pods gossip through (the StatefulSet's serviceName). */}}
{{- define "ns.peersName" -}}
{{- printf "%s-peers" (include "ns.fullname" .) }}
{{- end }}

{{/* The DNS name every pod joins: all peers' A records (not-ready ones too). */}}
{{- define "ns.joinAddr" -}}
{{- printf "%s.%s.svc.%s:%d" (include "ns.peersName" .) .Release.Namespace .Values.clusterDomain (int .Values.ports.gossip) }}
{{- end }}

{{- define "ns.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable for the release's life (a selector is immutable). */}}
{{- define "ns.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ns.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels. */}}
{{- define "ns.labels" -}}
helm.sh/chart: {{ include "ns.chart" . }}
{{ include "ns.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ns
{{- end }}

{{- define "ns.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ns.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ns.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
ns.validate fails the render on combinations the schema cannot express.
*/}}
{{- define "ns.validate" -}}
{{- if .Values.pinCPUs }}
{{- $req := .Values.resources.requests | default dict }}
{{- $lim := .Values.resources.limits | default dict }}
{{- if not (and $req.cpu $lim.cpu $req.memory $lim.memory) }}
{{- fail "pinCPUs needs Guaranteed QoS: set resources.requests and resources.limits, cpu and memory, equal" }}
{{- end }}
{{- if or (ne (toString $req.cpu) (toString $lim.cpu)) (ne (toString $req.memory) (toString $lim.memory)) }}
{{- fail "pinCPUs needs Guaranteed QoS: resources.requests must equal resources.limits (cpu and memory)" }}
{{- end }}
{{- if not (regexMatch "^[1-9][0-9]*$" (toString $lim.cpu)) }}
{{- fail (printf "pinCPUs needs an integer CPU count for the static CPU manager, got resources.limits.cpu %v" $lim.cpu) }}
{{- end }}
{{- end }}
{{- if ge (int .Values.backups) (int .Values.replicaCount) }}
{{- fail (printf "backups (%d) must be less than replicaCount (%d): each copy needs its own pod" (int .Values.backups) (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.gossipEncryption.enabled (not .Values.gossipEncryption.secretName) }}
{{- fail "gossipEncryption.enabled needs gossipEncryption.secretName" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName" }}
{{- end }}
{{- end }}
