{{/* Names and labels. Template names are prefixed with the chart name: in an umbrella chart
every subchart shares one template namespace. */}}
{{- define "prometheus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "prometheus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "prometheus.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "prometheus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prometheus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "prometheus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "prometheus.selectorLabels" . }}
app.kubernetes.io/component: monitoring
app.kubernetes.io/part-of: sentiment-platform
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "prometheus.image" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .Values.image.repository .Values.image.tag }}
{{- else -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}{{- end -}}
{{- end -}}

{{- define "prometheus.prefectAuthSecret" -}}
{{- .Values.global.prefect.auth.existingSecret | default (printf "%s-prefect-auth" .Release.Name) -}}
{{- end -}}

{{- define "prometheus.scrapesPrefectWithAuth" -}}
{{- if and .Values.scrape.prefectServer.enabled .Values.global.prefect.auth.enabled -}}true{{- end -}}
{{- end -}}

{{/* files/alerts.yaml with the thresholds of .Values.alerts in place of its __PLACEHOLDERS__. */}}
{{- define "prometheus.alertRules" -}}
{{- $a := .Values.alerts -}}
{{- .Files.Get "files/alerts.yaml"
    | replace "__ERROR_RATIO__" (toString $a.errorRatio)
    | replace "__P99_SECONDS__" (toString $a.p99Seconds)
    | replace "__NO_TRAFFIC_FOR__" $a.noTrafficFor
    | replace "__DOWN_FOR__" $a.downFor
    | replace "__STANDBY_FOR__" $a.standbyFor -}}
{{- end -}}
