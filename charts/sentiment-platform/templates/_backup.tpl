{{/* Backups (docs/kubernetes.md, "Backups and restore"). They live in the umbrella chart, not in
the postgresql part: one backup spans two parts (the databases and the MLflow artifact bucket),
uses both parts' images and Secrets, and the pre-upgrade hook adds the mlflow and prefect-server
images; only the umbrella sees all of their values. The logic is files/backup-db.sh (postgres
image) and files/backup-store.sh (mc image); every Job here runs them as steps of one pod that
share an emptyDir. */}}

{{/* "true" when backups can run: on, with the release's own PostgreSQL and object store (with
your own database or S3, use their backup tools). Arg: the root context. */}}
{{- define "sentiment-platform.backupOn" -}}
{{- if and .Values.backup.enabled .Values.postgresql.enabled .Values.objectstore.enabled -}}true{{- end -}}
{{- end -}}

{{/* The scripts ConfigMap's data: the two files as they are (rendered into the ordinary
ConfigMap and into the pre-upgrade hook's own; one source). Arg: the root context. */}}
{{- define "sentiment-platform.backupScripts" -}}
backup-db.sh: |
  {{- .Files.Get "files/backup-db.sh" | trimSuffix "\n" | nindent 2 }}
backup-store.sh: |
  {{- .Files.Get "files/backup-store.sh" | trimSuffix "\n" | nindent 2 }}
{{- end -}}

{{/* Labels of the backup, restore and pre-upgrade pods: app.kubernetes.io/name `backup` is what
the network policies select (peer helper); the component tells them apart. Args: (list <root
context> <component>). */}}
{{- define "sentiment-platform.backupPodLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: backup
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/part-of: sentiment-platform
{{- end -}}

{{/* One step (a container) of a backup pod. Args: (list <root context> <step name> <script:
db|store> <mode> <extra env: list of EnvVar>). The db steps connect as the PostgreSQL superuser
(the dumps hold extensions and ownership only it may restore); the store steps use the object
store's root credentials, as the bucket Job does: they read every bucket and create the backup
bucket, which no client user may. */}}
{{- define "sentiment-platform.backupStep" -}}
{{- $ := index . 0 -}}{{- $script := index . 2 -}}
{{- $dbs := list -}}{{- range $.Values.postgresql.databases }}{{- $dbs = append $dbs .name -}}{{- end -}}
- name: {{ index . 1 }}
  {{- if eq $script "db" }}
  image: {{ include "sentiment-platform.image" (list $ $.Values.postgresql.image) | quote }}
  imagePullPolicy: {{ $.Values.postgresql.image.pullPolicy }}
  command: ["/bin/sh", "/scripts/backup-db.sh", {{ index . 3 | quote }}]
  env:
    - name: PGHOST
      value: {{ $.Values.global.postgresql.host | default (printf "%s-postgresql" $.Release.Name) | quote }}
    - name: PGPORT
      value: {{ $.Values.global.postgresql.port | quote }}
    - name: PGUSER
      value: {{ $.Values.postgresql.auth.adminUser | quote }}
    - name: PGPASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ $.Values.global.postgresql.auth.existingSecret | default (printf "%s-postgresql" $.Release.Name) }}
          key: {{ $.Values.postgresql.auth.adminPasswordKey }}
  {{- else }}
  image: {{ include "sentiment-platform.image" (list $ $.Values.objectstore.bucketJob.image) | quote }}
  imagePullPolicy: {{ $.Values.objectstore.bucketJob.image.pullPolicy }}
  command: ["/bin/sh", "/scripts/backup-store.sh", {{ index . 3 | quote }}]
  env:
    - name: S3_ENDPOINT
      value: {{ $.Values.global.objectstore.endpoint | default (printf "http://%s-objectstore:9000" $.Release.Name) | quote }}
    - name: ROOT_USER
      valueFrom:
        secretKeyRef:
          name: {{ $.Values.global.objectstore.auth.existingSecret | default (printf "%s-objectstore" $.Release.Name) }}
          key: {{ $.Values.objectstore.auth.rootUserKey }}
    - name: ROOT_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ $.Values.global.objectstore.auth.existingSecret | default (printf "%s-objectstore" $.Release.Name) }}
          key: {{ $.Values.objectstore.auth.rootPasswordKey }}
    - name: BACKUP_BUCKET
      value: {{ $.Values.backup.bucket | quote }}
    - name: ARTIFACT_BUCKET
      value: {{ $.Values.global.objectstore.bucket | quote }}
    - name: KEEP
      value: {{ $.Values.backup.keep | quote }}
    - name: MC_CONFIG_DIR
      value: /tmp/.mc
  {{- end }}
    - name: DATABASES
      value: {{ join " " $dbs | quote }}
    - name: WORK
      value: /backup
    - name: HOME
      value: /tmp
    {{- with index . 4 }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  resources:
    {{- toYaml $.Values.backup.resources | nindent 4 }}
  securityContext:
    {{- toYaml $.Values.backup.securityContext | nindent 4 }}
  volumeMounts:
    - name: scripts
      mountPath: /scripts
      readOnly: true
    - name: work
      mountPath: /backup
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{/* The pod-level part of a backup pod spec. Args: (list <root context> <scripts ConfigMap>). */}}
{{- define "sentiment-platform.backupPodSpec" -}}
{{- $ := index . 0 -}}
restartPolicy: Never
# Talks to PostgreSQL and the object store only, never to the Kubernetes API.
automountServiceAccountToken: false
{{- with $.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $.Values.backup.podSecurityContext | nindent 2 }}
volumes:
  - name: scripts
    configMap:
      name: {{ index . 1 }}
      defaultMode: 0444
  # The dumps between the steps: as large as the databases.
  - name: work
    emptyDir: {}
  - name: tmp
    emptyDir: {}
{{- end -}}

{{/* Egress rules of the backup pods: PostgreSQL and the object store (the release's, or the
addresses given for your own). Arg: the root context. */}}
{{- define "sentiment-platform.backupEgress" -}}
{{- $r := .Release.Name -}}{{- $np := .Values.networkPolicy -}}
- to:
    {{- include "sentiment-platform.peer" (list $r "postgresql") | nindent 4 }}
    {{- include "sentiment-platform.externalService" $np.postgresql | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ .Values.global.postgresql.port }}}
- to:
    {{- include "sentiment-platform.peer" (list $r "objectstore") | nindent 4 }}
    {{- include "sentiment-platform.externalService" $np.objectstore | nindent 4 }}
  ports:
    - {protocol: TCP, port: 9000}
{{- end -}}
