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
{{- range $name, $default := .Values.trainer.jobVariableDefaults -}}
{{- if not (hasKey $vars $name) -}}{{- fail (printf "trainer.jobVariableDefaults: %s is not a variable of the base job template" $name) -}}{{- end -}}
{{- $_ := set (index $vars $name) "default" $default -}}
{{- end -}}
{{- $container := index $t.job_configuration.job_manifest.spec.template.spec.containers 0 -}}
{{- $platform := dict "MLFLOW_TRACKING_URI" (include "prefect-worker.mlflowUri" .) "SENTIMENT_MODEL_NAME" .Values.global.model.name "SENTIMENT_ROLLOUT_DEPLOYMENT" (include "prefect-worker.rolloutDeployment" .) "SENTIMENT_ROLLOUT_ANNOTATION" .Values.global.rollout.annotation -}}
{{- $env := list -}}
{{- range $container.env -}}
{{- if hasKey $platform .name -}}
{{- $env = append $env (dict "name" .name "value" (get $platform .name)) -}}
{{- else -}}
{{- $env = append $env . -}}
{{- end -}}
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
- name: HOME
  value: /tmp
- name: PREFECT_HOME
  value: /tmp/.prefect
{{- end -}}
