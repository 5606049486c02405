{{/* Names and labels. Template names are prefixed with the chart name: in an umbrella chart
every subchart shares one template namespace. */}}
{{- define "postgresql.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "postgresql.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "postgresql.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "postgresql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "postgresql.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "postgresql.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "postgresql.selectorLabels" . }}
app.kubernetes.io/component: database
app.kubernetes.io/part-of: sentiment-platform
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "postgresql.image" -}}
{{- $registry := .Values.global.imageRegistry | default "" -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .Values.image.repository .Values.image.tag }}
{{- else -}}{{ printf "%s:%s" .Values.image.repository .Values.image.tag }}{{- end -}}
{{- end -}}

{{/* Secret with the passwords: an existing one, or the one this chart generates. */}}
{{- define "postgresql.secretName" -}}
{{- .Values.global.postgresql.auth.existingSecret | default (include "postgresql.fullname" .) -}}
{{- end -}}

{{/* Environment variable that carries a database user's password to the init script. */}}
{{- define "postgresql.dbPasswordEnv" -}}
{{- printf "PG_DB_%s_PASSWORD" (.name | upper | replace "-" "_") -}}
{{- end -}}

{{/* A storage quantity in bytes ("2Gi" and "2048Mi" are the same), or the text as it is when it
is not a plain binary/decimal quantity. */}}
{{- define "postgresql.bytes" -}}
{{- $q := toString . -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "" 1 -}}
{{- $unit := regexFind "[A-Za-z]*$" $q -}}
{{- $number := trimSuffix $unit $q -}}
{{- if and (hasKey $units $unit) (regexMatch "^[0-9]+(\\.[0-9]+)?$" $number) -}}
{{- mulf (float64 $number) (index $units $unit) | int64 -}}
{{- else -}}
{{- $q -}}
{{- end -}}
{{- end -}}

{{/* Refuse, before anything is applied, a change Kubernetes would refuse on the StatefulSet:
its volumeClaimTemplates are immutable, and `helm upgrade` would otherwise update the other
objects first and leave a failed, half-applied release. `lookup` finds nothing under
`helm template` and client dry-runs, so renders stay the same there. */}}
{{- define "postgresql.checkImmutable" -}}
{{- $live := lookup "apps/v1" "StatefulSet" .Release.Namespace (include "postgresql.fullname" .) -}}
{{- if $live -}}
{{- $claims := $live.spec.volumeClaimTemplates | default list -}}
{{- $had := gt (len $claims) 0 -}}
{{- $how := "See UPGRADING.md, \"PostgreSQL storage\"." -}}
{{- if ne $had .Values.persistence.enabled -}}
{{- fail (printf "postgresql.persistence.enabled cannot change from %v to %v on an installed release: a StatefulSet's volume claims are immutable. Set it back to %v, or back up, reinstall and restore. %s" $had .Values.persistence.enabled $had $how) -}}
{{- end -}}
{{- if $had -}}
{{- $spec := (index $claims 0).spec -}}
{{- $size := toString $spec.resources.requests.storage -}}
{{- if ne (include "postgresql.bytes" $size) (include "postgresql.bytes" .Values.persistence.size) -}}
{{- fail (printf "postgresql.persistence.size cannot change from %s to %s on an installed release: a StatefulSet's volume claims are immutable. Set it back to %s; to grow the volume, resize its claim instead (kubectl patch pvc data-%s-0 -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"%s\"}}}}', with a StorageClass that allows expansion). %s" $size (toString .Values.persistence.size) $size (include "postgresql.fullname" .) (toString .Values.persistence.size) $how) -}}
{{- end -}}
{{- $class := $spec.storageClassName | default "" -}}
{{- if ne $class (.Values.persistence.storageClass | default "") -}}
{{- fail (printf "postgresql.persistence.storageClass cannot change from %q to %q on an installed release: a StatefulSet's volume claims are immutable. Set it back to %q; to move the data to another class, back up, reinstall and restore. %s" $class .Values.persistence.storageClass $class $how) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
