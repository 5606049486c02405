#!/usr/bin/env bash
# Checks with real traffic that a kind cluster from the node image built here enforces
# NetworkPolicy (kube-router's firewall controller on the CNI bridge, both installed by the
# image's default-cni.yaml; see docs/cluster.md). `make kind-verify-netpol` runs it; CI runs it
# before the end-to-end test, whose lock-down step relies on it. Runs in well under a minute,
# prints each check, exits non-zero if any fails, and removes its namespaces afterwards.
#
# Workload: netcheck (build/netcheck, a static Go binary packed into a one-layer image and loaded
# with `kind load image-archive`). Namespace netpol-verify-srv-ID runs the server "srv" (HTTP on
# 8080 and 8081, readiness probe on 8080) behind Service "srv", and Service "noep" that selects
# no pod; namespace netpol-verify-cli-ID runs the clients "cli" (label role=client) and "other"
# (no label).
#   1 no policy            every client reaches srv (pod IP, Service by ClusterIP and DNS name);
#                          a Service without endpoints fails at once on the node (its ClusterIP
#                          is never routed off the node; see default-cni.yaml)
#   2 deny ingress in srv  no client does; the node still does (kubelet probes: srv stays Ready,
#                          a pod started under the policy becomes Ready); DNS still resolves
#   3 allow role=client    cli reaches srv:8080 by pod IP, ClusterIP (post-DNAT) and DNS name;
#     from cli's ns, 8080  "other" does not; cli does not reach 8081
#   4 deny egress in cli   cli cannot resolve names (DNS blocked) nor reach srv
#   5 allow egress to DNS  cli resolves and reaches srv by Service name; not the API server's
#     and srv:8080         ClusterIP; "other" still cannot resolve
#   6 policies deleted     every client reaches srv again
# Env: KIND_CLUSTER (sentiment), KIND (kind), KUBECTL (kubectl), NETPOL_WAIT (20: seconds a check
# may take to reach its expected state after a change). Node-side checks run in the node
# container (docker exec).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KIND_CLUSTER="${KIND_CLUSTER:-sentiment}"
KIND="${KIND:-$( [[ -x "$ROOT/bin/kind" ]] && echo "$ROOT/bin/kind" || echo kind )}"
KUBECTL="${KUBECTL:-$( [[ -x "$ROOT/bin/kubectl" ]] && echo "$ROOT/bin/kubectl" || echo kubectl )}"
NODE_BIN="$ROOT/.cache/kind-node/bin"
KIND_NODE="$KIND_CLUSTER-control-plane"
CNI_BRIDGE=kind-br0   # files/kind/manifests/default-cni.yaml
API_SVC_IP=10.96.0.1  # the API server's ClusterIP: first address of kind's serviceSubnet 10.96.0.0/16
on_node() { docker exec "$KIND_NODE" "$@"; }
kc() { "$KUBECTL" --context "kind-$KIND_CLUSTER" "$@"; }
# Fresh names each run: a rerun neither waits for the last run's namespaces to go nor gets
# CoreDNS's cached answer (30 s) for the last run's Service.
RUN_ID=$(printf '%04x' $((RANDOM)))
SRV_NS=netpol-verify-srv-$RUN_ID
CLI_NS=netpol-verify-cli-$RUN_ID
LABEL=sentiment.local/verify-netpol
WAIT="${NETPOL_WAIT:-20}"
T0=$SECONDS
PASSED=0
FAILED=0
log() { printf '[verify-netpol +%3ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }

if ! kc get --raw /readyz >/dev/null 2>&1; then log "kind cluster $KIND_CLUSTER is not running (make kind-up)"; exit 1; fi
if ! kc -n kube-system rollout status daemonset/kube-router --timeout=60s >/dev/null; then
  log "kube-router is not running in kind cluster $KIND_CLUSTER: NetworkPolicy is not enforced"; exit 1
fi

# --- the netcheck image --------------------------------------------------------------------------
# After kind-node-image this only checks the stamps (netcheck is built with the node's binaries).
build_out=$("$HERE/build-binaries.sh" 2>&1) || { echo "$build_out" >&2; log "build-binaries.sh failed"; exit 1; }
IMAGE="sentiment.local/netcheck:$(sha256sum < "$NODE_BIN/netcheck" | cut -c1-12)"
if ! on_node ctr -n k8s.io images ls -q | grep -qxF "$IMAGE"; then
  tar="$(mktemp -d)/netcheck.tar"
  python3 "$HERE/mkimage.py" --tag "$IMAGE" --out "$tar" --file "$NODE_BIN/netcheck:/netcheck:0755" \
    --entrypoint /netcheck --user 65534:65534
  "$KIND" load image-archive "$tar" --name "$KIND_CLUSTER" >/dev/null
  rm -rf "$(dirname "$tar")"
  log "loaded $IMAGE"
fi

# --- workload ------------------------------------------------------------------------------------
ERR=$(mktemp)
cleanup() { rm -f "$ERR"; kc delete namespace "$SRV_NS" "$CLI_NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
trap cleanup EXIT
kc delete namespace -l "$LABEL" --wait=false >/dev/null 2>&1 || true   # left by an interrupted run
pod() { # name labels args-json [probe]
  cat <<EOF
---
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: $2}
spec:
  terminationGracePeriodSeconds: 1
  enableServiceLinks: false
  containers:
    - name: main
      image: $IMAGE
      imagePullPolicy: Never
      args: $3
${4:-}
EOF
}
PROBE='      readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1, failureThreshold: 1}'
for ns in "$SRV_NS" "$CLI_NS"; do
  printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {%s: "true"}}\n' "$ns" "$LABEL" | kc apply -f - >/dev/null
done
{
  pod srv '{app: srv}' '[serve, "8080", "8081"]' "$PROBE"
  cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: srv}
spec:
  selector: {app: srv}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: noep}
spec:
  selector: {app: none}
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
} | kc -n "$SRV_NS" apply -f - >/dev/null
{ pod cli '{role: client}' '[sleep]'; pod other '{}' '[sleep]'; } | kc -n "$CLI_NS" apply -f - >/dev/null
kc -n "$SRV_NS" wait --for=condition=Ready pod/srv --timeout=60s >/dev/null
kc -n "$CLI_NS" wait --for=condition=Ready pod/cli pod/other --timeout=60s >/dev/null
SRV_IP=$(kc -n "$SRV_NS" get pod srv -o jsonpath='{.status.podIP}')
SVC_IP=$(kc -n "$SRV_NS" get svc srv -o jsonpath='{.spec.clusterIP}')
NOEP_IP=$(kc -n "$SRV_NS" get svc noep -o jsonpath='{.spec.clusterIP}')
CLI_IP=$(kc -n "$CLI_NS" get pod cli -o jsonpath='{.status.podIP}')
SVC_DNS="srv.$SRV_NS.svc.cluster.local"
log "pods ready: srv $SRV_IP (Service $SVC_IP), clients $(kc -n "$CLI_NS" get pods -o jsonpath='{range .items[*]}{.metadata.name}={.status.podIP} {end}')"

# --- checks --------------------------------------------------------------------------------------
pass() { PASSED=$((PASSED + 1)); log "ok    $1"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL  $1"; }
# expect ok|blocked DESCRIPTION POD NETCHECK-ARGS...  (POD: cli or other, in $CLI_NS)
# Polls for up to $WAIT s: policy changes reach iptables asynchronously. "blocked" needs netcheck's
# own failure ("FAIL: ..."), not a kubectl error.
expect() {
  local want=$1 what=$2 p=$3 out rc first="" end=$((SECONDS + WAIT)) t=$SECONDS; shift 3
  while :; do
    out=$(kc -n "$CLI_NS" exec "$p" -- /netcheck "$@" 2>"$ERR") && rc=0 || rc=$?
    [[ -n "$out" ]] || out=$(<"$ERR")
    out=$(tr '\n' ' ' <<<"$out" | sed 's/ *$//' | cut -c1-160)
    if [[ $want == ok && $rc == 0 ]] || [[ $want == blocked && $rc == 1 && $out == FAIL:* ]]; then
      pass "$what ($out$( ((SECONDS - t > 1)) && echo "; after $((SECONDS - t))s")${first:+; first try: $first})"
      return 0
    fi
    [[ -n "$first" ]] || first=$out
    if ((SECONDS >= end)); then fail "$what (wanted $want, got: $out)"; return 0; fi
    sleep 0.5
  done
}
# host_expect ok DESCRIPTION URL: from the node itself (what the kubelet's probes do)
host_expect() {
  local out end=$((SECONDS + WAIT))
  until out=$(on_node curl -fsS --max-time 2 "$3" 2>&1); do
    ((SECONDS < end)) || { fail "$2 ($out)"; return 0; }
    sleep 0.5
  done
  pass "$2 ($out)"
}
ready() { [[ "$(kc -n "$SRV_NS" get pod "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
policy() { kc -n "$1" apply -f - >/dev/null; }

log "1. no NetworkPolicy"
expect ok "other -> srv pod IP $SRV_IP:8080" other tcp "$SRV_IP:8080"
expect ok "cli -> Service by DNS name http://$SVC_DNS" cli http "http://$SVC_DNS/"
expect ok "other -> DNS kubernetes.default" other dns kubernetes.default.svc.cluster.local
# Checked on the routing table first (no packet sent), so that a missing rule is not tested by
# sending a packet off the machine.
if route=$(on_node ip route get "$NOEP_IP" from "$CLI_IP" iif "$CNI_BRIDGE" 2>&1); then
  fail "Service without endpoints $NOEP_IP: pod traffic would be routed off the machine ($route)"
else
  pass "Service without endpoints $NOEP_IP: pod traffic is unroutable on the node ($route)"
  expect blocked "cli -> Service without endpoints fails at once" cli tcp "$NOEP_IP:80"
fi

log "2. default-deny ingress in $SRV_NS"
policy "$SRV_NS" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress}
spec: {podSelector: {}, policyTypes: [Ingress]}
EOF
expect blocked "other -> srv pod IP" other tcp "$SRV_IP:8080"
expect blocked "cli -> srv pod IP (no allow rule yet)" cli tcp "$SRV_IP:8080"
expect blocked "other -> Service ClusterIP $SVC_IP:80" other tcp "$SVC_IP:80"
host_expect ok "node -> srv pod IP (node-to-pod traffic stays allowed)" "http://$SRV_IP:8080/"
sleep 2   # >= 2 probe periods under the policy (failureThreshold 1)
if ready srv; then pass "srv stays Ready: kubelet readiness probes pass under default-deny"; else fail "srv became NotReady under default-deny"; fi
pod srv-late '{app: late}' '[serve, "8080"]' "$PROBE" | kc -n "$SRV_NS" apply -f - >/dev/null
if kc -n "$SRV_NS" wait --for=condition=Ready pod/srv-late --timeout=30s >/dev/null 2>&1; then
  pass "a pod started under default-deny becomes Ready (probe node -> pod)"
else
  fail "a pod started under default-deny did not become Ready"
fi
expect ok "other -> DNS still resolves (CoreDNS is not in $SRV_NS)" other dns "$SVC_DNS"

log "3. allow ingress to srv:8080 from pods role=client in $CLI_NS"
policy "$SRV_NS" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-clients}
spec:
  podSelector: {matchLabels: {app: srv}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $CLI_NS}}
          podSelector: {matchLabels: {role: client}}
      ports: [{protocol: TCP, port: 8080}]
EOF
expect ok "cli -> srv pod IP :8080" cli tcp "$SRV_IP:8080"
expect ok "cli -> Service ClusterIP (policy sees the post-DNAT pod IP)" cli http "http://$SVC_IP/"
expect ok "cli -> Service by DNS name" cli http "http://$SVC_DNS/"
expect blocked "other (unlabelled) -> srv pod IP :8080" other tcp "$SRV_IP:8080"
expect blocked "other (unlabelled) -> Service ClusterIP" other tcp "$SVC_IP:80"
expect blocked "cli -> srv :8081 (port not allowed)" cli tcp "$SRV_IP:8081"

log "4. default-deny egress in $CLI_NS"
policy "$CLI_NS" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-egress}
spec: {podSelector: {}, policyTypes: [Egress]}
EOF
expect blocked "cli -> DNS (egress to CoreDNS denied)" cli dns "$SVC_DNS"
expect blocked "cli -> srv pod IP :8080 (egress denied, ingress allowed)" cli tcp "$SRV_IP:8080"

log "5. allow egress of role=client to DNS and to srv:8080"
policy "$CLI_NS" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-egress}
spec:
  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress:
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
          podSelector: {matchLabels: {k8s-app: kube-dns}}
      ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
    - to:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $SRV_NS}}
          podSelector: {matchLabels: {app: srv}}
      ports: [{protocol: TCP, port: 8080}]
EOF
expect ok "cli -> DNS via the CoreDNS Service" cli dns "$SVC_DNS"
expect ok "cli -> Service by DNS name (DNS + ClusterIP, both namespaces' policies)" cli http "http://$SVC_DNS/"
expect blocked "cli -> API server ClusterIP $API_SVC_IP:443 (not allowed)" cli tcp "$API_SVC_IP:443"
expect blocked "other -> DNS (still under default-deny egress)" other dns "$SVC_DNS"

log "6. all policies deleted"
kc -n "$SRV_NS" delete networkpolicy --all >/dev/null
kc -n "$CLI_NS" delete networkpolicy --all >/dev/null
expect ok "other -> srv pod IP :8080" other tcp "$SRV_IP:8080"
expect ok "other -> Service by DNS name" other http "http://$SVC_DNS/"

log "NetworkPolicy checks: $PASSED passed, $FAILED failed"
echo "netpol: $PASSED passed, $FAILED failed"
((FAILED == 0)) || { log "kube-router log: kubectl --context kind-$KIND_CLUSTER -n kube-system logs daemonset/kube-router"; exit 1; }
