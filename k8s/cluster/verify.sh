#!/usr/bin/env bash
# Smoke test of the local cluster: a pod from a locally imported image (the debootstrapped base,
# docker -> containerd) serving HTTP, reached from another pod through its Service by DNS name and
# from the host through its ClusterIP. Cleans up after itself.
#   VERIFY_IMAGE (default sentiment-base:bookworm; built by scripts/docker/base-image.sh)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
export KUBECONFIG="${KUBECONFIG:-$KUBECONFIG_OUT}"
IMAGE="${VERIFY_IMAGE:-sentiment-base:bookworm}"
NS=cluster-verify
T0=$SECONDS
log() { printf '[verify +%3ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }
kc() { "$KUBECTL" "$@"; }

if ! docker image inspect "$IMAGE" >/dev/null 2>&1 && [[ "$IMAGE" == sentiment-base:bookworm ]]; then
  "$ROOT/scripts/docker/base-image.sh"
fi
"$HERE/load-images.sh" "$IMAGE"

kc delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
kc create namespace "$NS" >/dev/null
trap 'kc delete namespace "$NS" --ignore-not-found --wait=false >/dev/null 2>&1' EXIT
kc -n "$NS" apply -f - >/dev/null <<EOF2
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: $IMAGE
          imagePullPolicy: Never
          command: [sh, -c, 'mkdir -p /srv && echo "hello from \$(hostname)" > /srv/index.html && exec python3 -m http.server 8080 -d /srv']
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
EOF2
kc -n "$NS" rollout status deploy/web --timeout=120s >/dev/null
log "pod from the imported image $IMAGE is Ready"

ip=$(kc -n "$NS" get svc web -o jsonpath='{.spec.clusterIP}')
# kube-proxy programs the new Service within a second or two.
for i in $(seq 30); do out=$(curl -fsS --max-time 5 "http://$ip/" 2>&1) && break; sleep 1; done
[[ "$out" == hello* ]] || { log "FAILED: host -> ClusterIP $ip: $out"; exit 1; }
log "host -> ClusterIP $ip: $out"

kc -n "$NS" run client --image="$IMAGE" --image-pull-policy=Never --restart=Never --command -- \
  python3 -c 'import socket, urllib.request; n = "web.cluster-verify.svc.cluster.local"; print(n, "->", socket.gethostbyname(n)); print(urllib.request.urlopen("http://web/", timeout=10).read().decode().strip()); print("kubernetes.default ->", socket.gethostbyname("kubernetes.default"))' >/dev/null
for _ in $(seq 120); do
  phase=$(kc -n "$NS" get pod client -o jsonpath='{.status.phase}')
  [[ "$phase" == Succeeded || "$phase" == Failed ]] && break
  sleep 1
done
kc -n "$NS" logs client | sed 's/^/  pod: /' >&2
[[ "$phase" == Succeeded ]] || { log "FAILED: client pod $phase"; exit 1; }
log "pod -> Service by DNS name ok"
log "cluster verified"
