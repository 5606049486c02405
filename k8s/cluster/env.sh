# Shared settings of the local cluster scripts (sourced by up.sh, down.sh and friends).
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/k8s/cluster/versions.env"
RUN_DIR="${RUN_DIR:-$ROOT/.run}"
CLUSTER_DIR="$RUN_DIR/cluster"                    # logs/, pids/, pki/, conf/, images/
KUBECONFIG_OUT="${KUBECONFIG_OUT:-$RUN_DIR/kube/config}"
K8S_BIN="${K8S_BIN:-$ROOT/.cache/k8s-bin}"
K8S_STATE="${K8S_STATE:-/var/lib/sentiment-k8s}"  # etcd, containerd root, PV directories
K8S_RUN="${K8S_RUN:-/run/sentiment-k8s}"
KUBELET_DIR="${KUBELET_DIR:-/var/lib/kubelet}"
CTR_SOCK="$K8S_RUN/containerd.sock"
CNI_BIN="${CNI_BIN:-/usr/lib/cni}"
CNI_CONF_DIR="$K8S_STATE/cni/net.d"
CNI_BRIDGE=sk8s0
FWD_CHAIN=SENTIMENT-K8S-FWD
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_SVC_IP=10.96.0.1
DNS_IP=10.96.0.10
API_PORT=6443
ETCD_PORT=2379
ETCD_PEER_PORT=2380
ETCD_METRICS_PORT=2381
NODE_NAME="${NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}"
if [[ -z "${NODE_IP:-}" ]]; then
  NODE_IP="$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')"
  [[ -n "$NODE_IP" ]] || NODE_IP="$(ip -4 -o addr show scope global | awk '{sub("/.*", "", $4); print $4; exit}')"
fi
KUBECTL="${KUBECTL:-$( [[ -x "$ROOT/bin/kubectl" ]] && echo "$ROOT/bin/kubectl" || command -v kubectl )}"
export PATH="$K8S_BIN:$PATH"
