{{/* How to reach a Service from the user's machine: the kind port mapping when the part runs
as a NodePort, else a port-forward. Args: (list <service> <port> <part values> <namespace>). */}}
{{- define "sentiment-platform.reach" -}}
{{- $svc := index . 0 -}}{{- $port := index . 1 -}}{{- $vals := index . 2 -}}{{- $ns := index . 3 -}}
{{- if and (eq (($vals.service).type | default "") "NodePort") ($vals.service).nodePort -}}
http://localhost:{{ $port }}   (kind: host port {{ $port }} -> nodePort {{ $vals.service.nodePort }})
{{- else -}}
http://localhost:{{ $port }}   after: kubectl -n {{ $ns }} port-forward svc/{{ $svc }} {{ $port }}
{{- end -}}
{{- end -}}

{{/* The Secrets the generate-secrets Job creates (as a YAML list): each part's credentials
unless the part is off or an existingSecret names the operator's own. Key names and formats are
the ones the parts read. */}}
{{- define "sentiment-platform.generatedSecrets" -}}
{{- $r := .Release.Name -}}
{{- $labels := dict "app.kubernetes.io/part-of" "sentiment-platform" "app.kubernetes.io/instance" $r "app.kubernetes.io/created-by" "generate-secrets" -}}
{{- $pw := dict "length" 32 -}}
{{- $out := list -}}
{{- if and .Values.postgresql.enabled (not .Values.global.postgresql.auth.existingSecret) -}}
{{- $keys := dict (.Values.postgresql.auth.adminPasswordKey | default "postgres-password") $pw -}}
{{- range .Values.postgresql.databases }}{{- $_ := set $keys .passwordKey $pw -}}{{- end -}}
{{- $out = append $out (dict "name" (printf "%s-postgresql" $r) "keys" $keys "labels" $labels) -}}
{{- end -}}
{{- if and .Values.objectstore.enabled (not .Values.global.objectstore.auth.existingSecret) -}}
{{- $k := .Values.objectstore.auth -}}
{{- $keys := dict $k.rootUserKey (dict "prefix" "admin-" "length" 10 "alphabet" "lower") $k.rootPasswordKey (dict "length" 40) $k.clientAccessKeyKey (dict "prefix" "mlflow-" "length" 12 "alphabet" "lower") $k.clientSecretKeyKey (dict "length" 40) -}}
{{- if .Values.global.monitoring.enabled -}}
{{- $keys = merge $keys (dict "prediction-writer-access-key" (dict "prefix" "predictions-" "length" 12 "alphabet" "lower") "prediction-writer-secret-key" (dict "length" 40) "monitor-access-key" (dict "prefix" "monitor-" "length" 12 "alphabet" "lower") "monitor-secret-key" (dict "length" 40)) -}}
{{- end -}}
{{- $out = append $out (dict "name" (printf "%s-objectstore" $r) "keys" $keys "labels" $labels) -}}
{{- end -}}
{{- if and .Values.global.mlflow.auth.enabled (not .Values.global.mlflow.auth.existingSecret) -}}
{{- $keys := dict "admin-password" $pw "trainer-password" $pw "model-server-password" $pw "flask-secret-key" (dict "length" 48) -}}
{{- $out = append $out (dict "name" (printf "%s-mlflow-auth" $r) "keys" $keys "labels" $labels) -}}
{{- end -}}
{{- if and .Values.global.prefect.auth.enabled (not .Values.global.prefect.auth.existingSecret) -}}
{{- $keys := dict "auth-string" (dict "prefix" "admin:" "length" 32) -}}
{{- $out = append $out (dict "name" (printf "%s-prefect-auth" $r) "keys" $keys "labels" $labels) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* Labels of the umbrella's own objects. Args: (list <root context> <component>). */}}
{{- define "sentiment-platform.labels" -}}
{{- $ := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $.Chart.Name $.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/part-of: sentiment-platform
app.kubernetes.io/managed-by: {{ $.Release.Service }}
{{- end -}}

{{/* An image reference. Args: (list <root context> <image values: repository, tag>). */}}
{{- define "sentiment-platform.image" -}}
{{- $ := index . 0 -}}{{- $img := index . 1 -}}
{{- $registry := $.Values.global.imageRegistry | default "" -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry $img.repository $img.tag }}
{{- else -}}{{ printf "%s:%s" $img.repository $img.tag }}{{- end -}}
{{- end -}}

{{/* Network policy peers. A pod of one part of the release, by the labels every part sets.
Args: (list <release> <app.kubernetes.io/name>). */}}
{{- define "sentiment-platform.peer" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ index . 0 }}
      app.kubernetes.io/name: {{ index . 1 }}
{{- end -}}

{{/* The release's Prometheus, when it is on (nothing otherwise). Arg: the root context. */}}
{{- define "sentiment-platform.prometheusPeer" -}}
{{- if .Values.prometheus.enabled }}
{{- include "sentiment-platform.peer" (list .Release.Name "prometheus") }}
{{- end }}
{{- end -}}

{{/* Flow-run pods (the trainer), by their component: the Prefect worker sets their
app.kubernetes.io/name to the deployment's name. Arg: the release name. */}}
{{- define "sentiment-platform.flowRunPeer" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ . }}
      app.kubernetes.io/component: flow-run
{{- end -}}

{{/* People's clients outside the pod network (kind's NodePorts), when networkPolicy.external
is on: any address but the pods'. Arg: .Values.networkPolicy. */}}
{{- define "sentiment-platform.external" -}}
{{- if .external.enabled }}
- ipBlock:
    cidr: 0.0.0.0/0
    except: {{ toJson .external.exceptCIDRs }}
{{- end }}
{{- end -}}

{{/* A store outside the release (postgresql or objectstore disabled, global.*.host/endpoint
set): its addresses. Arg: .Values.networkPolicy.<store>. */}}
{{- define "sentiment-platform.externalService" -}}
{{- range .cidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- end -}}

{{/* Egress to the Kubernetes API server. Arg: .Values.networkPolicy. */}}
{{- define "sentiment-platform.kubeAPI" -}}
- to:
    {{- range .kubeAPI.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range .kubeAPI.ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end -}}
