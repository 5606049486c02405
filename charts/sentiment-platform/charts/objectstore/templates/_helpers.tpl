{{/* Names and labels. Template names are prefixed with the chart name: in an umbrella chart
every subchart shares one template namespace. */}}
{{- define "objectstore.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "objectstore.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "objectstore.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "objectstore.selectorLabels" -}}
app.kubernetes.io/name: {{ include "objectstore.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "objectstore.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "objectstore.selectorLabels" . }}
app.kubernetes.io/component: object-store
app.kubernetes.io/part-of: sentiment-platform
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "objectstore.image" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .Values.image.repository .Values.image.tag }}
{{- else -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}{{- end -}}
{{- end -}}

{{/* Secret with the credentials: an existing one, or the one this chart generates. */}}
{{- define "objectstore.secretName" -}}
{{- .Values.global.objectstore.auth.existingSecret | default (include "objectstore.fullname" .) -}}
{{- end -}}

{{- define "objectstore.endpoint" -}}
{{- .Values.global.objectstore.endpoint | default (printf "http://%s:%d" (include "objectstore.fullname" .) (int .Values.service.port)) -}}
{{- end -}}

{{- define "objectstore.bucketImage" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- $img := .Values.bucketJob.image -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry $img.repository $img.tag }}
{{- else -}}{{ printf "%s:%s" $img.repository $img.tag }}{{- end -}}
{{- end -}}
