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
