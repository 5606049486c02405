#!/usr/bin/env bash
# Bring up a single-node Kubernetes cluster directly on this machine, with nothing pulled from a
# container registry (for machines that only reach package registries; with internet use
# `make kind-up`). Idempotent: running it again starts only what is not running.
#
#   etcd, containerd, runc, CNI plugins, iptables, conntrack,
#   ipset                                                     <- Debian packages
#   kube-apiserver, kube-controller-manager, kube-scheduler,
#   kubelet, kube-proxy, CoreDNS, pause,
#   kube-router (NetworkPolicy enforcement only)              <- Go module proxy (build.sh)
#   pause + CoreDNS images                                    <- mkimage.py, ctr import
#
# Processes run detached and log to $RUN_DIR/cluster/logs; the admin kubeconfig is written to
# $RUN_DIR/kube/config. Heavy state (etcd, containerd, volumes) lives under $K8S_STATE.
# `k8s/cluster/down.sh` stops everything and cleans up.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"

T0=$SECONDS
UP_START_EPOCH=$(date +%s)
FRESH=0
log() { printf '[cluster-up +%4ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $EUID -eq 0 ]] || die "must run as root (it starts containerd and the kubelet)"

# --- packages ----------------------------------------------------------------------------------
need_pkgs=()
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v containerd >/dev/null || need_pkgs+=(containerd)
command -v runc >/dev/null || need_pkgs+=(runc)
[[ -x "$CNI_BIN/bridge" ]] || need_pkgs+=(containernetworking-plugins)
command -v iptables >/dev/null || need_pkgs+=(iptables)
command -v conntrack >/dev/null || need_pkgs+=(conntrack)
command -v ipset >/dev/null || need_pkgs+=(ipset)
command -v openssl >/dev/null || need_pkgs+=(openssl)
if ((${#need_pkgs[@]})); then
  log "installing Debian packages: ${need_pkgs[*]}"
  apt_install() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need_pkgs[@]}" >&2; }
  # A new machine may have no package lists yet.
  apt_install || { apt-get -o DPkg::Lock::Timeout=600 update >&2 && apt_install; }
fi

# --- binaries ----------------------------------------------------------------------------------
"$HERE/build.sh"
log "binaries ready"

# Write stdin to a file only when it differs (kube-proxy exits when its config file is touched).
write_if_changed() {
  local f=$1 tmp; tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  if cmp -s "$tmp" "$f"; then rm -f "$tmp"; else mv "$tmp" "$f"; fi
}

mkdir -p "$CLUSTER_DIR"/{logs,pids,pki,conf,images} "$K8S_STATE" "$K8S_RUN" "$(dirname "$KUBECONFIG_OUT")"

# --- kernel settings ---------------------------------------------------------------------------
sysctl -qw net.ipv4.ip_forward=1
[[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || log "warning: bridge-nf-call-iptables unavailable"
sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null || true

# --- PKI (openssl) -----------------------------------------------------------------------------
PKI="$CLUSTER_DIR/pki"
mkcert() { # name CN O ext [SAN]
  local name=$1 cn=$2 o=$3 ext=$4 san=${5:-}
  [[ -s "$PKI/$name.crt" ]] && return 0
  local subj="/CN=$cn"; [[ -n "$o" ]] && subj="/O=$o$subj"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$ext"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
if [[ ! -s "$PKI/ca.crt" ]]; then
  log "creating certificates"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
    -subj "/CN=sentiment-local-ca" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
fi
# The SANs name the node IP, so a changed IP needs a new serving cert.
if [[ -s "$PKI/apiserver.crt" && "$(cat "$PKI/apiserver.ip" 2>/dev/null)" != "$NODE_IP" ]]; then
  rm -f "$PKI/apiserver.crt"
fi
mkcert apiserver kube-apiserver "" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$NODE_NAME,IP:$API_SVC_IP,IP:127.0.0.1,IP:$NODE_IP"
echo "$NODE_IP" > "$PKI/apiserver.ip"
mkcert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
mkcert admin kubernetes-admin system:masters clientAuth
mkcert controller-manager system:kube-controller-manager "" clientAuth
mkcert scheduler system:kube-scheduler "" clientAuth
mkcert kubelet "system:node:$NODE_NAME" system:nodes clientAuth
mkcert kube-proxy system:kube-proxy "" clientAuth
mkcert kube-router kube-router "" clientAuth   # RBAC: manifests/kube-router-rbac.yaml
if [[ ! -s "$PKI/sa.key" ]]; then
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
chmod 600 "$PKI"/*.key

mkkubeconfig() { # file user server
  local file=$1 user=$2 server=$3
  write_if_changed "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sentiment-local
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$PKI/$user.crt")
    client-key-data: $(base64 -w0 < "$PKI/$user.key")
contexts:
- name: sentiment-local
  context: {cluster: sentiment-local, user: $user}
current-context: sentiment-local
EOF
  chmod 600 "$file"
}
CONF="$CLUSTER_DIR/conf"
for u in admin controller-manager scheduler kubelet kube-proxy kube-router; do
  mkkubeconfig "$CONF/$u.conf" "$u" "https://127.0.0.1:$API_PORT"
done
write_if_changed "$KUBECONFIG_OUT" < "$CONF/admin.conf"
export KUBECONFIG="$KUBECONFIG_OUT"

# --- process helpers ---------------------------------------------------------------------------
running() { local p; p=$(cat "$CLUSTER_DIR/pids/$1.pid" 2>/dev/null) && [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; }
start() { # name cmd...
  local name=$1; shift
  if running "$name"; then log "$name already running (pid $(cat "$CLUSTER_DIR/pids/$name.pid"))"; return 0; fi
  log "starting $name"
  [[ "$name" == etcd ]] && FRESH=1
  echo "=== $(date -Is) $*" >> "$CLUSTER_DIR/logs/$name.log"
  setsid nohup "$@" >> "$CLUSTER_DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$CLUSTER_DIR/pids/$name.pid"
}
wait_for() { # what timeout cmd...
  local what=$1 timeout=$2; shift 2
  local end=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || die "timed out after ${timeout}s waiting for $what (logs: $CLUSTER_DIR/logs)"
    sleep 1
  done
  log "$what ok"
}
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

# --- etcd --------------------------------------------------------------------------------------
start etcd etcd --name "$NODE_NAME" --data-dir "$K8S_STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" \
  --listen-metrics-urls "http://127.0.0.1:$ETCD_METRICS_PORT" \
  --quota-backend-bytes 4294967296 --auto-compaction-retention 1 --snapshot-count 10000
wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

# --- control plane -----------------------------------------------------------------------------
start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port="$API_PORT" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --allow-privileged=true --profiling=false --event-ttl=1h
wait_for kube-apiserver 180 kc get --raw /readyz

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$CONF/controller-manager.conf" \
  --authentication-kubeconfig="$CONF/controller-manager.conf" --authorization-kubeconfig="$CONF/controller-manager.conf" \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$POD_CIDR" \
  --allocate-node-cidrs=true --node-cidr-mask-size=24 --profiling=false
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$CONF/scheduler.conf" \
  --authentication-kubeconfig="$CONF/scheduler.conf" --authorization-kubeconfig="$CONF/scheduler.conf" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false

# --- containerd (its own socket and root, so it never meets docker's) --------------------------
write_if_changed "$CONF/containerd.toml" <<EOF
version = 2
root = "$K8S_STATE/containerd"
state = "$K8S_RUN/containerd"
[grpc]
  address = "$CTR_SOCK"
[ttrpc]
  address = "$CTR_SOCK.ttrpc"
[debug]
  level = "info"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # Never ask for a lower oom_score_adj than containerd's own: lowering it needs
  # CAP_SYS_RESOURCE, which some VMs (this one) do not give root; runc init then dies with
  # "can't get final child's PID from pipe: EOF" on every pod sandbox (kubelet asks for -998).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$CNI_CONF_DIR"
[plugins."io.containerd.internal.v1.opt"]
  path = "$K8S_STATE/opt"
EOF
start containerd containerd --config "$CONF/containerd.toml"
wait_for containerd 60 ctr -a "$CTR_SOCK" version

# --- images the cluster itself needs -----------------------------------------------------------
IMG="$CLUSTER_DIR/images"
import_if_missing() { # tag tarball-builder-args...
  local tag=$1; shift
  if ctr -a "$CTR_SOCK" -n k8s.io images ls -q | grep -qxF "$tag"; then return 0; fi
  local tar="$IMG/$(echo "$tag" | tr '/:' '__').tar"
  python3 "$HERE/mkimage.py" --tag "$tag" --out "$tar" "$@"
  ctr -a "$CTR_SOCK" -n k8s.io images import "$tar" >/dev/null
  log "imported $tag"
}
import_if_missing "$PAUSE_IMAGE" --file "$K8S_BIN/pause:/pause:0755" --entrypoint /pause
import_if_missing "$COREDNS_IMAGE" --file "$K8S_BIN/coredns:/coredns:0755" --entrypoint /coredns \
  --port 53/udp --port 53/tcp --port 9153/tcp

# --- pod network: one bridge, host-local IPAM on the node's podCIDR ----------------------------
mkdir -p "$CNI_CONF_DIR"
write_if_changed "$CNI_CONF_DIR/10-sentiment.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "sentiment-local",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$K8S_STATE/cni-ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
# docker sets the FORWARD policy to DROP; let pod traffic through in a chain of our own.
iptables -N "$FWD_CHAIN" 2>/dev/null || true
iptables -C FORWARD -j "$FWD_CHAIN" 2>/dev/null || iptables -I FORWARD 1 -j "$FWD_CHAIN"
iptables -F "$FWD_CHAIN"
iptables -A "$FWD_CHAIN" -s "$POD_CIDR" -j ACCEPT
iptables -A "$FWD_CHAIN" -d "$POD_CIDR" -j ACCEPT
# Pod traffic to a Service IP that kube-proxy did not DNAT (a Service without endpoints, or no
# such Service) would follow the default route off the machine: kube-router ACCEPTs
# policy-compliant pod traffic in FORWARD before kube-proxy's "has no endpoints" REJECT. The
# routing rule answers it with ICMP network-unreachable instead (connect fails at once). Traffic
# that was DNATed to a pod or the node, and the host's own traffic, never match it.
ip_rules=$(ip rule show)   # (not piped into grep -q: with pipefail, an early exit is a SIGPIPE)
grep -qF -- "to $SERVICE_CIDR iif $CNI_BRIDGE" <<<"$ip_rules" ||
  ip rule add iif "$CNI_BRIDGE" to "$SERVICE_CIDR" unreachable pref 1000

# --- node: kubelet + kube-proxy ----------------------------------------------------------------
write_if_changed "$CONF/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://$CTR_SOCK"
clusterDNS: ["$DNS_IP"]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
rotateCertificates: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 3%, imagefs.available: 3%, nodefs.inodesFree: 2%}
maxPods: 110
oomScoreAdj: 0
EOF
start_kubelet() {
  start kubelet "$K8S_BIN/kubelet" --config="$CONF/kubelet.yaml" --kubeconfig="$CONF/kubelet.conf" \
    --root-dir="$KUBELET_DIR" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
}
start_kubelet
# containerd answers `ctr version` before its CRI service has initialised; a kubelet started in
# that window (a loaded machine) exits at once with "server is not initialized yet". Start it
# again until it stays up.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  sleep 3
  running kubelet && break
  log "kubelet exited (attempt $attempt; CRI not ready yet?): $(tail -n 1 "$CLUSTER_DIR/logs/kubelet.log" | cut -c1-200)"
  start_kubelet
done

write_if_changed "$CONF/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$CONF/kube-proxy.conf"}
mode: iptables
clusterCIDR: "$POD_CIDR"
hostnameOverride: "$NODE_NAME"
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
oomScoreAdj: 0
EOF
start kube-proxy "$K8S_BIN/kube-proxy" --config="$CONF/kube-proxy.yaml"

wait_for "node $NODE_NAME registered" 120 kc get node "$NODE_NAME"

# --- NetworkPolicy enforcement: kube-router as the policy controller only ----------------------
# The bridge CNI enforces nothing; kube-router's firewall controller turns NetworkPolicies into
# iptables chains (KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*) and ipsets (KUBE-SRC-*, KUBE-DST-*)
# hooked at position 1 of INPUT/FORWARD/OUTPUT. No routing (one node, one bridge), no service
# proxy (kube-proxy does that), no health/metrics listeners (they would bind every address).
# It reads its node's InternalIP at start, hence the wait. See docs/cluster.md.
kc apply -f "$HERE/manifests/kube-router-rbac.yaml" >/dev/null
node_has_ip() { [[ -n "$(kc get node "$NODE_NAME" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')" ]]; }
wait_for "node $NODE_NAME InternalIP" 60 node_has_ip
start kube-router "$K8S_BIN/kube-router" --kubeconfig="$CONF/kube-router.conf" --hostname-override="$NODE_NAME" \
  --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
  --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
  --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
  --iptables-sync-period=1m --health-port=0 --metrics-port=0
wait_for "node $NODE_NAME Ready" 180 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s

# --- add-ons -----------------------------------------------------------------------------------
sed -e "s#__COREDNS_IMAGE__#$COREDNS_IMAGE#" -e "s#__DNS_IP__#$DNS_IP#" "$HERE/manifests/coredns.yaml" \
  | kc apply -f - >/dev/null
kc apply -f "$HERE/manifests/storage.yaml" >/dev/null
start hostpath-provisioner "$HERE/hostpath-provisioner.sh"
wait_for "CoreDNS ready" 180 kc -n kube-system rollout status deploy/coredns --timeout=5s
# kube-router's first full sync ends by appending the ACCEPT of policy-compliant traffic to its
# top-level chains; its FORWARD hook must come before SENTIMENT-K8S-FWD's blanket ACCEPT.
netpol_synced() {
  local krfwd fwd
  krfwd=$(iptables -S KUBE-ROUTER-FORWARD 2>/dev/null) && fwd=$(iptables -S FORWARD 2>/dev/null) || return 1
  fwd=$(grep -m1 -- '^-A FORWARD' <<<"$fwd")
  grep -q -- '--mark 0x20000/0x20000 -j ACCEPT' <<<"$krfwd" && [[ "$fwd" == *"-j KUBE-ROUTER-FORWARD"* ]]
}
end=$((SECONDS + 120))
until netpol_synced; do
  running kube-router || die "kube-router exited: $(tail -n 3 "$CLUSTER_DIR/logs/kube-router.log")"
  ((SECONDS < end)) || die "timed out after 120s waiting for kube-router's first sync (log: $CLUSTER_DIR/logs/kube-router.log)"
  sleep 1
done
log "kube-router NetworkPolicy sync ok"

# When this run started the cluster (not just checked it): the e2e reports up -> first prediction.
if ((FRESH)) || [[ ! -s "$CLUSTER_DIR/up-times.env" ]]; then
  printf 'UP_START_EPOCH=%s\nUP_END_EPOCH=%s\n' "$UP_START_EPOCH" "$(date +%s)" > "$CLUSTER_DIR/up-times.env"
fi
log "cluster up in $((SECONDS - T0))s; export KUBECONFIG=$KUBECONFIG_OUT"
