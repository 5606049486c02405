#!/usr/bin/env bash
# Build every binary of the kind node image from the Go module proxy into $NODE_BIN (default
# <repo>/.cache/kind-node/bin):
#   kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubeadm kubectl pause
#       Kubernetes $K8S_VERSION through the wrapper module build/go.mod (k8s.io/kubernetes points
#       its staging modules at ./staging, so `go install k8s.io/kubernetes/...` is impossible)
#   etcd                    $ETCD_VERSION, wrapper module build/etcd (same reason)
#   kube-router             $KUBE_ROUTER_VERSION, wrapper module build/kube-router (raises its deps)
#   coredns crictl local-path-provisioner    go install <module>@<version>
#   netcheck                the test workload of verify-netpol.sh (standard library only)
# Incremental: a binary is rebuilt only when its stamp (version + hash of its module files)
# changes; the Go build cache (~/.cache/go-build) makes a forced rebuild a link-only job.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
source "$HERE/versions.env"
NODE_BIN="${NODE_BIN:-$ROOT/.cache/kind-node/bin}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
GO_P="${GO_P:-2}"            # go build -p; set GO_P=1 on a busy machine
mkdir -p "$NODE_BIN"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath"

log() { printf '[build %s] %s\n' "$(date +%T)" "$*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# stamped NAME STAMP BINARIES...: true when every binary exists and NAME's stamp is STAMP.
stamped() {
  local name=$1 stamp=$2; shift 2
  for b in "$@"; do [[ -x "$NODE_BIN/$b" ]] || return 1; done
  [[ "$(cat "$NODE_BIN/.$name-stamp" 2>/dev/null)" == "$stamp" ]]
}
built() { echo "$2" > "$NODE_BIN/.$1-stamp"; log "$1 built in $(( SECONDS - t0 ))s"; }

# Kubernetes: one `go build` for all commands (they share most packages).
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubeadm kubectl)
want="k8s $K8S_VERSION $(hash_of "$HERE/build/go.sum" "$HERE/build/go.mod" "$HERE/build/pause/main.go")"
if ! stamped k8s "$want" "${K8S_CMDS[@]}" pause; then
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ld+=" -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.gitCommit=module-proxy"
  ld+=" -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  pkgs=(); for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building Kubernetes $K8S_VERSION: ${K8S_CMDS[*]} pause (go build -p $GO_P)"
  t0=$SECONDS
  (cd "$HERE/build" && nice -n 19 "$GO" build -p "$GO_P" -ldflags "$ld" -o "$NODE_BIN/" "${pkgs[@]}" ./pause)
  built k8s "$want"
fi

# etcd: the server kubeadm v1.34 expects.
want="etcd $ETCD_VERSION $(hash_of "$HERE/build/etcd/go.mod" "$HERE/build/etcd/go.sum")"
if ! stamped etcd "$want" etcd; then
  log "building etcd $ETCD_VERSION"; t0=$SECONDS
  (cd "$HERE/build/etcd" && nice -n 19 "$GO" build -p "$GO_P" -ldflags "-s -w" -o "$NODE_BIN/etcd" go.etcd.io/etcd/server/v3)
  built etcd "$want"
fi

# kube-router, the NetworkPolicy controller (firewall only; default-cni.yaml). Its wrapper module
# pins v2.1.0, the only version the proxy serves, and raises its dependencies past their known
# vulnerabilities (see the comment in build/kube-router/go.mod).
KR_DIR="$HERE/build/kube-router"
grep -Eq "^(require)?[[:space:]]*github.com/cloudnativelabs/kube-router/v2 $KUBE_ROUTER_VERSION([[:space:]]|\$)" "$KR_DIR/go.mod" ||
  { log "ERROR: $KR_DIR/go.mod does not require kube-router $KUBE_ROUTER_VERSION (versions.env)"; exit 1; }
want="kube-router $KUBE_ROUTER_VERSION $(hash_of "$KR_DIR/go.mod" "$KR_DIR/go.sum")"
if ! stamped kube-router "$want" kube-router; then
  log "building kube-router $KUBE_ROUTER_VERSION (go build -p $GO_P)"; t0=$SECONDS
  kr=github.com/cloudnativelabs/kube-router/v2
  (cd "$KR_DIR" && nice -n 19 "$GO" build -p "$GO_P" -o "$NODE_BIN/kube-router" \
    -ldflags "-s -w -X $kr/pkg/version.Version=$KUBE_ROUTER_VERSION -X $kr/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
    "$kr/cmd/kube-router")
  built kube-router "$want"
fi

# Modules without replace directives: go install at the pinned version.
install_pinned() { # NAME MODULE-PATH VERSION
  stamped "$1" "$3" "$1" && return
  log "building $1 $3"; t0=$SECONDS
  GOBIN="$NODE_BIN" nice -n 19 "$GO" install -p "$GO_P" -ldflags "-s -w" "$2@$3"
  built "$1" "$3"
}
install_pinned coredns github.com/coredns/coredns "$COREDNS_VERSION"
install_pinned crictl sigs.k8s.io/cri-tools/cmd/crictl "$CRICTL_VERSION"
install_pinned local-path-provisioner github.com/rancher/local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION"

# netcheck: standard library only, a few seconds.
want="netcheck $(hash_of "$HERE/build/netcheck/main.go")"
if ! stamped netcheck "$want" netcheck; then
  t0=$SECONDS
  (cd "$HERE/build" && nice -n 19 "$GO" build -ldflags "-s -w" -o "$NODE_BIN/netcheck" ./netcheck)
  built netcheck "$want"
fi

log "binaries in $NODE_BIN: $(cd "$NODE_BIN" && ls | tr '\n' ' ')"
