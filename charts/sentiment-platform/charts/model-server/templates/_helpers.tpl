{{/* Names and labels. Template names are prefixed with the chart name: in an umbrella chart
every subchart shares one template namespace. */}}
{{- define "model-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "model-server.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "model-server.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "model-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "model-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "model-server.selectorLabels" . }}
app.kubernetes.io/component: model-server
app.kubernetes.io/part-of: sentiment-platform
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "model-server.image" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .Values.image.repository .Values.image.tag }}
{{- else -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}{{- end -}}
{{- end -}}

{{- define "model-server.mlflowUri" -}}
{{- .Values.global.mlflow.trackingUri | default (printf "http://%s-mlflow:5000" .Release.Name) -}}
{{- end -}}

{{/* The object store the monitoring loop uses: endpoint and the Secret with its keys. */}}
{{- define "model-server.s3Endpoint" -}}
{{- .Values.global.objectstore.endpoint | default (printf "http://%s-objectstore:9000" .Release.Name) -}}
{{- end -}}

{{- define "model-server.s3Secret" -}}
{{- .Values.global.objectstore.auth.existingSecret | default (printf "%s-objectstore" .Release.Name) -}}
{{- end -}}
