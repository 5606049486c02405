{{/* Names and labels. Template names are prefixed with the chart name: in an umbrella chart
every subchart shares one template namespace. */}}
{{- define "prefect-worker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "prefect-worker.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "prefect-worker.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "prefect-worker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prefect-worker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "prefect-worker.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: sentiment-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "prefect-worker.labels" -}}
{{ include "prefect-worker.commonLabels" . }}
app.kubernetes.io/name: {{ include "prefect-worker.name" . }}
app.kubernetes.io/component: worker
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
{{- end -}}

{{/* Labels of the flow-run identity (trainer service account, Role, RoleBinding). */}}
{{- define "prefect-worker.trainerLabels" -}}
{{ include "prefect-worker.commonLabels" . }}
app.kubernetes.io/name: trainer
app.kubernetes.io/component: trainer
app.kubernetes.io/version: {{ .Values.trainer.image.tag | quote }}
{{- end -}}

{{- define "prefect-worker.image" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .Values.image.repository .Values.image.tag }}
{{- else -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}{{- end -}}
{{- end -}}

{{- define "prefect-worker.apiUrl" -}}
{{- .Values.global.prefect.apiUrl | default (printf "http://%s-prefect-server:4200/api" .Release.Name) -}}
{{- end -}}

{{- define "prefect-worker.mlflowUri" -}}
{{- .Values.global.mlflow.trackingUri | default (printf "http://%s-mlflow:5000" .Release.Name) -}}
{{- end -}}

{{- define "prefect-worker.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "prefect-worker.fullname" .) -}}
{{- end -}}

{{- define "prefect-worker.trainerServiceAccountName" -}}
{{- .Values.trainer.serviceAccount.name | default (printf "%s-trainer" .Release.Name) -}}
{{- end -}}

{{/* The model-server Deployment that the flow's promote step patches. */}}
{{- define "prefect-worker.rolloutDeployment" -}}
{{- .Values.trainer.rolloutDeployment | default (printf "%s-model-server" .Release.Name) -}}
{{- end -}}

{{- define "prefect-worker.trainerImage" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- $img := .Values.trainer.image -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry $img.repository $img.tag }}
{{- else -}}{{ printf "%s:%s" $img.repository $img.tag }}{{- end -}}
{{- end -}}

{{/* Any stable string identifies the cluster to the worker; setting it means the worker never
reads the kube-system namespace (which its namespaced Role could not do anyway). The default is
derived from the release, so it does not change between upgrades. */}}
{{- define "prefect-worker.clusterUid" -}}
{{- if .Values.clusterUid -}}
{{- .Values.clusterUid -}}
{{- else -}}
{{- $h := printf "%s/%s" .Release.Namespace .Release.Name | sha256sum -}}
{{- printf "%s-%s-%s-%s-%s" (substr 0 8 $h) (substr 8 12 $h) (substr 12 16 $h) (substr 16 20 $h) (substr 20 32 $h) -}}
{{- end -}}
{{- end -}}

{{/* The work pool's base job template: files/base-job-template.json (the same file as
k8s/base-job-template.json) with the release-specific defaults filled in. Only the values
below change; the structure of the file is kept as is. The platform env ($platform) replaces
the values of the entries of the same name in the file's container env (every one of them is
in the file, with its default for release `sentiment`). */}}
{{- define "prefect-worker.baseJobTemplate" -}}
{{- $t := .Files.Get "files/base-job-template.json" | fromJson -}}
{{- $vars := $t.variables.properties -}}
{{- $_ := set (index $vars "namespace") "default" .Release.Namespace -}}
{{- $_ := set (index $vars "image") "default" (include "prefect-worker.trainerImage" .) -}}
{{- $_ := set (index $vars "image_pull_policy") "default" .Values.trainer.image.pullPolicy -}}
{{- $_ := set (index $vars "service_account_name") "default" (include "prefect-worker.trainerServiceAccountName" .) -}}
{{- range .Values.trainer.openJobVariables -}}
{{- if not (has . (list "image" "service_account_name" "namespace")) -}}{{- fail (printf "trainer.openJobVariables: %s is not a lockable variable (image, service_account_name, namespace)" .) -}}{{- end -}}
{{- end -}}
{{- range $name, $default := .Values.trainer.jobVariableDefaults -}}
{{- if not (hasKey $vars $name) -}}{{- fail (printf "trainer.jobVariableDefaults: %s is not a variable of the base job template" $name) -}}{{- end -}}
{{- $_ := set (index $vars $name) "default" $default -}}
{{- end -}}
{{- $manifest := $t.job_configuration.job_manifest -}}
{{- $podSpec := $manifest.spec.template.spec -}}
{{- $container := index $podSpec.containers 0 -}}
{{- /* Locked unless opened: a flow run (or whoever can reach the Prefect API) cannot choose the
image, the service account or the namespace of the Job it gets. The values are written into the
manifest, which no longer reads the variables: a deployment may still set them (`flow.deploy`
sets `image`), and they are ignored. The security contexts are never variables. */ -}}
{{- $open := .Values.trainer.openJobVariables -}}
{{- $locked := "Locked by the chart (prefect-worker.trainer.openJobVariables): ignored." -}}
{{- if not (has "image" $open) -}}
{{- $_ := set (index $vars "image") "description" $locked -}}
{{- $_ := set $container "image" (include "prefect-worker.trainerImage" .) -}}
{{- end -}}
{{- if not (has "service_account_name" $open) -}}
{{- $_ := set (index $vars "service_account_name") "description" $locked -}}
{{- $_ := set $podSpec "serviceAccountName" (include "prefect-worker.trainerServiceAccountName" .) -}}
{{- end -}}
{{- if not (has "namespace" $open) -}}
{{- $_ := set (index $vars "namespace") "description" $locked -}}
{{- $_ := set $t.job_configuration "namespace" .Release.Namespace -}}
{{- $_ := set $manifest.metadata "namespace" .Release.Namespace -}}
{{- end -}}
{{- /* Flow-run pods wait for their peers first (files/wait_for_peers.py says why). */ -}}
{{- if .Values.trainer.waitForPeers.enabled -}}
{{- $w := .Values.trainer.waitForPeers -}}
{{- $cmd := list "python" "-c" (.Files.Get "files/wait_for_peers.py") (toString $w.timeoutSeconds) (include "prefect-worker.apiUrl" .) (include "prefect-worker.mlflowUri" .) -}}
{{- $init := dict "name" "wait-for-peers" "image" $container.image "imagePullPolicy" $container.imagePullPolicy "command" $cmd "securityContext" $container.securityContext "resources" $w.resources -}}
{{- $_ := set $podSpec "initContainers" (list $init) -}}
{{- end -}}
{{- /* Flow-run pods carry the release's instance label, and the file's component `flow-run`: the
network policies select them by these two. Not by app.kubernetes.io/name: the worker overwrites
it (and part-of, managed-by, version) with the deployment's name on every flow-run pod. */ -}}
{{- $_ := set $manifest.spec.template.metadata "labels" (merge (dict "app.kubernetes.io/instance" .Release.Name) $manifest.spec.template.metadata.labels) -}}
{{- $platform := dict "MLFLOW_TRACKING_URI" (include "prefect-worker.mlflowUri" .) "SENTIMENT_MODEL_NAME" .Values.global.model.name "SENTIMENT_ROLLOUT_DEPLOYMENT" (include "prefect-worker.rolloutDeployment" .) "SENTIMENT_ROLLOUT_ANNOTATION" .Values.global.rollout.annotation -}}
{{- $env := list -}}
{{- range $container.env -}}
{{- if hasKey $platform .name -}}
{{- $env = append $env (dict "name" .name "value" (get $platform .name)) -}}
{{- else -}}
{{- $env = append $env . -}}
{{- end -}}
{{- end -}}
{{- if .Values.global.mlflow.auth.enabled -}}
{{- /* Flow runs log in to MLflow as the trainer, the password by reference to the Secret. */ -}}
{{- $env = append $env (dict "name" "MLFLOW_TRACKING_USERNAME" "value" "trainer") -}}
{{- $env = append $env (dict "name" "MLFLOW_TRACKING_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" (include "prefect-worker.mlflowAuthSecret" .) "key" "trainer-password"))) -}}
{{- end -}}
{{- /* Artifacts through MLflow's proxy only, never by presigned URLs to the store (the
model server's env says why). */ -}}
{{- $env = append $env (dict "name" "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD" "value" "false") -}}
{{- if .Values.global.monitoring.enabled -}}
{{- /* The monitoring loop's data, read-only: the prediction log for the monitor, labeled reviews
for the monitor and training (docs/monitoring.md). Writable only under batch/: files to score,
their output, and the scoring fan-out's work folder (docs/batch-scoring.md). */ -}}
{{- $m := .Values.global.monitoring.bucket -}}
{{- $s3 := include "prefect-worker.s3Secret" . -}}
{{- $env = append $env (dict "name" "SENTIMENT_PREDICTION_LOG" "value" (printf "s3://%s/predictions" $m)) -}}
{{- $env = append $env (dict "name" "SENTIMENT_SCORING_WORK_URI" "value" (printf "s3://%s/batch/_scoring" $m)) -}}
{{- $env = append $env (dict "name" "SENTIMENT_LABELED_DATA" "value" (printf "s3://%s/labeled/" $m)) -}}
{{- $env = append $env (dict "name" "AWS_ENDPOINT_URL_S3" "value" (include "prefect-worker.s3Endpoint" .)) -}}
{{- $env = append $env (dict "name" "AWS_REGION" "value" "us-east-1") -}}
{{- $env = append $env (dict "name" "AWS_ACCESS_KEY_ID" "valueFrom" (dict "secretKeyRef" (dict "name" $s3 "key" "monitor-access-key"))) -}}
{{- $env = append $env (dict "name" "AWS_SECRET_ACCESS_KEY" "valueFrom" (dict "secretKeyRef" (dict "name" $s3 "key" "monitor-secret-key"))) -}}
{{- end -}}
{{- $env = concat $env .Values.trainer.extraEnv -}}
{{- $_ := set $container "env" $env -}}
{{- toPrettyJson $t -}}
{{- end -}}

{{/* Environment shared by the sync init container and the worker. */}}
{{- define "prefect-worker.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: PREFECT_API_URL
  value: {{ include "prefect-worker.apiUrl" . | quote }}
- name: WORK_POOL
  value: {{ .Values.workPool.name | quote }}
# Fixed cluster id, so no worker version looks up the kube-system namespace's UID (older
# prefect-kubernetes releases did unless one of these was set; 0.8 accepts both names).
- name: PREFECT_INTEGRATIONS_KUBERNETES_CLUSTER_UID
  value: {{ include "prefect-worker.clusterUid" . | quote }}
- name: PREFECT_KUBERNETES_CLUSTER_UID
  value: {{ include "prefect-worker.clusterUid" . | quote }}
# The observer watches flow-run pods and Jobs in this namespace only (a cluster-wide watch
# would need a ClusterRole).
- name: PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES
  value: {{ .Release.Namespace | quote }}
- name: PREFECT_WORKER_WEBSERVER_PORT
  value: "8080"
{{- if .Values.global.prefect.auth.enabled }}
- name: PREFECT_API_AUTH_STRING
  valueFrom:
    secretKeyRef:
      name: {{ include "prefect-worker.prefectAuthSecret" . }}
      key: auth-string
# Flow-run Jobs get the auth string as a reference to this Secret, not as a value in the Job
# (prefect-kubernetes replaces the env entry it would otherwise copy from the worker).
- name: PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME
  value: {{ include "prefect-worker.prefectAuthSecret" . | quote }}
- name: PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY
  value: auth-string
{{- end }}
- name: HOME
  value: /tmp
- name: PREFECT_HOME
  value: /tmp/.prefect
{{- end -}}

{{- define "prefect-worker.prefectAuthSecret" -}}
{{- .Values.global.prefect.auth.existingSecret | default (printf "%s-prefect-auth" .Release.Name) -}}
{{- end -}}

{{- define "prefect-worker.mlflowAuthSecret" -}}
{{- .Values.global.mlflow.auth.existingSecret | default (printf "%s-mlflow-auth" .Release.Name) -}}
{{- end -}}

{{/* The object store the monitoring loop uses: endpoint and the Secret with its keys. */}}
{{- define "prefect-worker.s3Endpoint" -}}
{{- .Values.global.objectstore.endpoint | default (printf "http://%s-objectstore:9000" .Release.Name) -}}
{{- end -}}

{{- define "prefect-worker.s3Secret" -}}
{{- .Values.global.objectstore.auth.existingSecret | default (printf "%s-objectstore" .Release.Name) -}}
{{- end -}}
