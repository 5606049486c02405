{{/* Names and labels. Template names are prefixed with the chart name: in an umbrella chart
every subchart shares one template namespace. */}}
{{- define "mlflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlflow.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "mlflow.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mlflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mlflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/component: tracking-server
app.kubernetes.io/part-of: sentiment-platform
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mlflow.image" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .Values.image.repository .Values.image.tag }}
{{- else -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}{{- end -}}
{{- end -}}

{{/* Where the peers are: global values, else the umbrella's naming convention. */}}
{{- define "mlflow.dbHost" -}}
{{- .Values.global.postgresql.host | default (printf "%s-postgresql" .Release.Name) -}}
{{- end -}}

{{- define "mlflow.dbSecret" -}}
{{- .Values.global.postgresql.auth.existingSecret | default (printf "%s-postgresql" .Release.Name) -}}
{{- end -}}

{{- define "mlflow.backendStoreUri" -}}
{{- printf "postgresql://%s@%s:%d/%s" .Values.database.user (include "mlflow.dbHost" .) (int .Values.global.postgresql.port) .Values.database.name -}}
{{- end -}}

{{- define "mlflow.s3Endpoint" -}}
{{- .Values.global.objectstore.endpoint | default (printf "http://%s-objectstore:9000" .Release.Name) -}}
{{- end -}}

{{- define "mlflow.s3Secret" -}}
{{- .Values.global.objectstore.auth.existingSecret | default (printf "%s-objectstore" .Release.Name) -}}
{{- end -}}

{{/* Host headers the server accepts (MLflow 3 rejects unknown ones to stop DNS rebinding):
the Service's in-cluster names, localhost (port-forward, kind port mapping) and extras. */}}
{{- define "mlflow.allowedHosts" -}}
{{- $svc := include "mlflow.fullname" . -}}
{{- $port := int .Values.service.port -}}
{{- $hosts := list -}}
{{- range $name := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) -}}
{{- $hosts = append $hosts $name -}}
{{- $hosts = append $hosts (printf "%s:%d" $name $port) -}}
{{- end -}}
{{- $hosts = concat $hosts (list "localhost" "localhost:*" "127.0.0.1" "127.0.0.1:*") .Values.allowedHosts -}}
{{- join "," ($hosts | uniq) -}}
{{- end -}}

{{/* Database connection for the init container and the server. The URI has no password:
libpq (psycopg2) takes it from PGPASSWORD, which comes from the Secret. */}}
{{- define "mlflow.dbEnv" -}}
- name: MLFLOW_BACKEND_STORE_URI
  value: {{ include "mlflow.backendStoreUri" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mlflow.dbSecret" . }}
      key: {{ .Values.database.passwordKey }}
{{- end -}}

{{/* MLflow's basic auth: the Secret with its passwords, and its user store, the schema
mlflow_auth of MLflow's own database (no password in the URI: libpq reads PGPASSWORD). */}}
{{- define "mlflow.authSecret" -}}
{{- .Values.global.mlflow.auth.existingSecret | default (printf "%s-mlflow-auth" .Release.Name) -}}
{{- end -}}

{{- define "mlflow.authDatabaseUri" -}}
{{- printf "%s?options=-csearch_path=%s" (include "mlflow.backendStoreUri" .) .Values.auth.schema -}}
{{- end -}}

{{/* The server's auth environment: where the ini is, the admin, the CSRF key. */}}
{{- define "mlflow.authEnv" -}}
- name: MLFLOW_AUTH_CONFIG_PATH
  value: /etc/mlflow-auth/basic_auth.ini
- name: MLFLOW_AUTH_ADMIN_USERNAME
  value: admin
- name: MLFLOW_AUTH_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mlflow.authSecret" . }}
      key: admin-password
- name: MLFLOW_FLASK_SERVER_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "mlflow.authSecret" . }}
      key: flask-secret-key
{{- end -}}
