#!/usr/bin/env bash
# Build the local cluster's binaries from the Go module proxy into $K8S_BIN (default
# <repo>/.cache/k8s-bin): kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy (Kubernetes $K8S_VERSION via the wrapper module in build/), coredns, pause,
# kube-router (NetworkPolicy enforcement; wrapper module build/kube-router/) and netcheck (the test
# workload of verify-netpol.sh).
# Incremental: a binary is rebuilt only when its stamp (version + go.sum hash) changes; the Go
# build cache (~/.cache/go-build) makes a forced rebuild a link-only job.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
source "$HERE/versions.env"
K8S_BIN="${K8S_BIN:-$ROOT/.cache/k8s-bin}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
GO_P="${GO_P:-2}"            # go build -p; set GO_P=1 on a busy machine
NICE="nice -n 19"
mkdir -p "$K8S_BIN"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath"

log() { printf '[build %s] %s\n' "$(date +%T)" "$*" >&2; }

stamp_of() { echo "$1 $(sha256sum "$HERE/build/go.sum" "$HERE/build/go.mod" "$HERE/build/pause/main.go" | sha256sum | cut -c1-16)"; }

# Kubernetes components.
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
want="$(stamp_of "k8s $K8S_VERSION")"
need=0
for c in "${K8S_CMDS[@]}" pause; do [[ -x "$K8S_BIN/$c" ]] || need=1; done
[[ "$(cat "$K8S_BIN/.k8s-stamp" 2>/dev/null)" == "$want" ]] || need=1
if (( need )); then
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ld+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  ld+=" -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.gitCommit=module-proxy"
  ld+=" -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  pkgs=(); for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building Kubernetes $K8S_VERSION: ${K8S_CMDS[*]} (go build -p $GO_P)"
  t0=$SECONDS
  (cd "$HERE/build" && $NICE "$GO" build -p "$GO_P" -ldflags "$ld" -o "$K8S_BIN/" "${pkgs[@]}" ./pause)
  echo "$want" > "$K8S_BIN/.k8s-stamp"
  log "Kubernetes built in $((SECONDS - t0))s"
fi

# CoreDNS: its own module, installed at a pinned version (no replace directives upstream).
if [[ ! -x "$K8S_BIN/coredns" || "$(cat "$K8S_BIN/.coredns-stamp" 2>/dev/null)" != "$COREDNS_VERSION" ]]; then
  log "building CoreDNS $COREDNS_VERSION"
  t0=$SECONDS
  GOBIN="$K8S_BIN" $NICE "$GO" install -p "$GO_P" -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  echo "$COREDNS_VERSION" > "$K8S_BIN/.coredns-stamp"
  log "CoreDNS built in $((SECONDS - t0))s"
fi

# kube-router, run as the NetworkPolicy controller only (up.sh: --run-firewall). Its own wrapper
# module (build/kube-router/go.mod) pins v2.1.0, the only version the proxy serves, and raises its
# dependencies past their known vulnerabilities (see the comment in that go.mod).
KR_DIR="$HERE/build/kube-router"
grep -Eq "^(require)?[[:space:]]*github.com/cloudnativelabs/kube-router/v2 $KUBE_ROUTER_VERSION([[:space:]]|\$)" "$KR_DIR/go.mod" ||
  { log "ERROR: $KR_DIR/go.mod does not require kube-router $KUBE_ROUTER_VERSION (versions.env)"; exit 1; }
want="kube-router $KUBE_ROUTER_VERSION $(cat "$KR_DIR/go.mod" "$KR_DIR/go.sum" | sha256sum | cut -c1-16)"
if [[ ! -x "$K8S_BIN/kube-router" || "$(cat "$K8S_BIN/.kube-router-stamp" 2>/dev/null)" != "$want" ]]; then
  log "building kube-router $KUBE_ROUTER_VERSION (go build -p $GO_P)"
  t0=$SECONDS
  kr=github.com/cloudnativelabs/kube-router/v2
  (cd "$KR_DIR" && $NICE "$GO" build -p "$GO_P" -o "$K8S_BIN/kube-router" \
    -ldflags "-s -w -X $kr/pkg/version.Version=$KUBE_ROUTER_VERSION -X $kr/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
    "$kr/cmd/kube-router")
  echo "$want" > "$K8S_BIN/.kube-router-stamp"
  log "kube-router built in $((SECONDS - t0))s"
fi

# netcheck: standard library only, a few seconds.
want="netcheck $(sha256sum < "$HERE/build/netcheck/main.go" | cut -c1-16)"
if [[ ! -x "$K8S_BIN/netcheck" || "$(cat "$K8S_BIN/.netcheck-stamp" 2>/dev/null)" != "$want" ]]; then
  (cd "$HERE/build" && $NICE "$GO" build -ldflags "-s -w" -o "$K8S_BIN/netcheck" ./netcheck)
  echo "$want" > "$K8S_BIN/.netcheck-stamp"
fi

log "binaries in $K8S_BIN: $(cd "$K8S_BIN" && ls | tr '\n' ' ')"
