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

{{/* The store's users besides root, each a policy (named like its folder in the bucket Job's
/users) and the Secret keys of its credentials: a list of
{name, accessKey, secretKey, statements}. */}}
{{- define "objectstore.users" -}}
{{- $users := list -}}
{{- if .Values.bucketJob.createClientUser -}}
{{- $b := .Values.global.objectstore.bucket -}}
{{- $users = append $users (dict "name" (printf "%s-rw" $b) "accessKey" .Values.auth.clientAccessKeyKey "secretKey" .Values.auth.clientSecretKeyKey "statements" (list
  (dict "Effect" "Allow" "Action" (list "s3:GetBucketLocation" "s3:ListBucket" "s3:ListBucketMultipartUploads") "Resource" (list (printf "arn:aws:s3:::%s" $b)))
  (dict "Effect" "Allow" "Action" (list "s3:GetObject" "s3:PutObject" "s3:DeleteObject" "s3:AbortMultipartUpload" "s3:ListMultipartUploadParts") "Resource" (list (printf "arn:aws:s3:::%s/*" $b))))) -}}
{{- end -}}
{{- if .Values.global.monitoring.enabled -}}
{{- $m := .Values.global.monitoring.bucket -}}
{{- $users = append $users (dict "name" "predictions-write" "accessKey" "prediction-writer-access-key" "secretKey" "prediction-writer-secret-key" "statements" (list
  (dict "Effect" "Allow" "Action" (list "s3:PutObject" "s3:AbortMultipartUpload" "s3:ListMultipartUploadParts") "Resource" (list (printf "arn:aws:s3:::%s/predictions/*" $m))))) -}}
{{- /* Flow runs: read the whole monitoring bucket; write and delete only under batch/ (batch
scoring: files to score are put there, the output is written next to them, and the fan-out's
work folder is batch/_scoring/). The policy keeps its name (`monitoring-read`) so an upgrade
updates it in place for the same user. */ -}}
{{- $users = append $users (dict "name" "monitoring-read" "accessKey" "monitor-access-key" "secretKey" "monitor-secret-key" "statements" (list
  (dict "Effect" "Allow" "Action" (list "s3:GetBucketLocation" "s3:ListBucket") "Resource" (list (printf "arn:aws:s3:::%s" $m)))
  (dict "Effect" "Allow" "Action" (list "s3:GetObject") "Resource" (list (printf "arn:aws:s3:::%s/*" $m)))
  (dict "Effect" "Allow" "Action" (list "s3:PutObject" "s3:DeleteObject" "s3:AbortMultipartUpload" "s3:ListMultipartUploadParts") "Resource" (list (printf "arn:aws:s3:::%s/batch/*" $m))))) -}}
{{- end -}}
{{- toYaml $users -}}
{{- end -}}

{{/* The buckets the Job creates. */}}
{{- define "objectstore.buckets" -}}
{{- $buckets := list .Values.global.objectstore.bucket -}}
{{- if .Values.global.monitoring.enabled }}{{ $buckets = append $buckets .Values.global.monitoring.bucket }}{{ end -}}
{{- join " " $buckets -}}
{{- end -}}
