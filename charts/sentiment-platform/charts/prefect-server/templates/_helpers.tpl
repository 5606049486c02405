{{/* Names and labels. Template names are prefixed with the chart name: in an umbrella chart
every subchart shares one template namespace. */}}
{{- define "prefect-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "prefect-server.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "prefect-server.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "prefect-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prefect-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "prefect-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "prefect-server.selectorLabels" . }}
app.kubernetes.io/component: orchestration-server
app.kubernetes.io/part-of: sentiment-platform
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "prefect-server.image" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .Values.image.repository .Values.image.tag }}
{{- else -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}{{- end -}}
{{- end -}}

{{- define "prefect-server.dbHost" -}}
{{- .Values.global.postgresql.host | default (printf "%s-postgresql" .Release.Name) -}}
{{- end -}}

{{- define "prefect-server.dbSecret" -}}
{{- .Values.global.postgresql.auth.existingSecret | default (printf "%s-postgresql" .Release.Name) -}}
{{- end -}}

{{/* The database connection of the server, also used by the umbrella's pre-upgrade hook (its
`prefect server database upgrade`), so both connect the same way. */}}
{{- define "prefect-server.dbEnv" -}}
- name: PREFECT_SERVER_DATABASE_DRIVER
  value: postgresql+asyncpg
- name: PREFECT_SERVER_DATABASE_HOST
  value: {{ include "prefect-server.dbHost" . | quote }}
- name: PREFECT_SERVER_DATABASE_PORT
  value: {{ .Values.global.postgresql.port | quote }}
- name: PREFECT_SERVER_DATABASE_NAME
  value: {{ .Values.database.name | quote }}
- name: PREFECT_SERVER_DATABASE_USER
  value: {{ .Values.database.user | quote }}
- name: PREFECT_SERVER_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "prefect-server.dbSecret" . }}
      key: {{ .Values.database.passwordKey }}
{{- end -}}

{{- define "prefect-server.authSecret" -}}
{{- .Values.global.prefect.auth.existingSecret | default (printf "%s-prefect-auth" .Release.Name) -}}
{{- end -}}
