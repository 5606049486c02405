#!/usr/bin/env bash
# Build the kind node image sentiment-kind-node:<K8S_VERSION> without a registry
# (docs/cluster.md, "The kind node image built here"). `kind build node-image` always pulls, so
# this assembles what it would produce:
#   1. every binary, from the Go module proxy (build-binaries.sh): Kubernetes v1.34 (kubeadm,
#      kubelet, kubectl, control plane, kube-proxy), etcd, CoreDNS, crictl, kube-router and
#      local-path-provisioner, at the versions kubeadm and kind use (versions.env);
#   2. the images the node runs, as docker-archives: one-layer images (mkimage.py) for the static
#      binaries, and the node-tools image (iptables + kube-proxy + kube-router);
#   3. the node image: Debian systemd/containerd/runc/CNI plugins + kind's base files (from kind's
#      Go module) + all of the above.
# Incremental: the node image is rebuilt only when one of its inputs changed (a stamp of their
# hashes); docker's layer cache does the rest.
#   build.sh            build (or confirm) the image and print its name
# Env: BASE_IMAGE (sentiment-base:bookworm), DOCKER (docker), GO_P (go build -p, 2).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
source "$HERE/versions.env"
BASE_IMAGE="${BASE_IMAGE:-sentiment-base:bookworm}"
DOCKER="${DOCKER:-docker}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
CACHE="$ROOT/.cache/kind-node"
BIN="$CACHE/bin"
KIND_VERSION="${KIND_VERSION:-$(sed -n 's/^KIND_VERSION *?= *//p' "$ROOT/mk/tools.mk")}"
IMAGE="$KIND_NODE_IMAGE_NAME:$K8S_VERSION"
TOOLS_IMAGE="sentiment.local/kind-node-tools:$K8S_VERSION"
log() { printf '[kind-node %s] %s\n' "$(date +%T)" "$*" >&2; }

# 1. The binaries (stamped and cached by that script).
NODE_BIN="$BIN" "$HERE/build-binaries.sh"

# kind's base files come from its Go module, at the kind version the Makefile pins.
KIND_DIR="$("$GO" mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"

# The stamp: every input of the image. Unchanged inputs and an existing image -> nothing to do.
stamp="$( { echo "$BASE_IMAGE $KIND_VERSION $K8S_VERSION"; cat "$BIN"/.*-stamp;
  cd "$HERE" && find Dockerfile node-tools.Dockerfile mkimage.py versions.env files -type f | sort | xargs sha256sum; } \
  | sha256sum | cut -c1-16)"
if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 \
  && [[ "$("$DOCKER" image inspect -f '{{index .Config.Labels "sentiment.inputs"}}' "$IMAGE")" == "$stamp" ]]; then
  log "$IMAGE is up to date (inputs $stamp)"; echo "$IMAGE"; exit 0
fi
"$ROOT/scripts/docker/base-image.sh"

ctx="$CACHE/context"
rm -rf "$ctx"; mkdir -p "$ctx/bin" "$ctx/images"
cp -a "$HERE/Dockerfile" "$HERE/files" "$ctx/"
cp -a "$KIND_DIR/images/base/files" "$ctx/kind-files"; chmod -R u+w "$ctx/kind-files"
cp "$BIN/kubeadm" "$BIN/kubelet" "$BIN/kubectl" "$BIN/crictl" "$ctx/bin/"
echo "$K8S_VERSION" > "$ctx/version"

# 2. The node's images. mkimage IMAGE-TAG ARCHIVE-NAME MKIMAGE-ARGS...
mkimage() { local tag=$1 out=$2; shift 2; python3 "$HERE/mkimage.py" --tag "$tag" --out "$ctx/images/$out.tar" "$@"; }
path_env=(--env PATH=/usr/local/bin:/usr/bin:/bin)
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  mkimage "registry.k8s.io/$c:$K8S_VERSION" "$c" --file "$BIN/$c:/usr/local/bin/$c:0755" "${path_env[@]}"
done
mkimage "registry.k8s.io/etcd:$ETCD_IMAGE_TAG" etcd --file "$BIN/etcd:/usr/local/bin/etcd:0755" "${path_env[@]}"
mkimage "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" coredns --file "$BIN/coredns:/coredns:0755" \
  --entrypoint /coredns --port 53/udp --port 53/tcp --port 9153/tcp
mkimage "registry.k8s.io/pause:$PAUSE_TAG" pause --file "$BIN/pause:/pause:0755" --entrypoint /pause
mkimage "sentiment.local/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION" local-path-provisioner \
  --file "$BIN/local-path-provisioner:/usr/local/bin/local-path-provisioner:0755" "${path_env[@]}"

tools_ctx="$CACHE/node-tools-context"
rm -rf "$tools_ctx"; mkdir -p "$tools_ctx"
cp "$HERE/node-tools.Dockerfile" "$tools_ctx/Dockerfile"
cp "$BIN/kube-proxy" "$BIN/kube-router" "$tools_ctx/"
log "building $TOOLS_IMAGE (= registry.k8s.io/kube-proxy:$K8S_VERSION)"
"$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$TOOLS_IMAGE" \
  -t "registry.k8s.io/kube-proxy:$K8S_VERSION" "$tools_ctx" >/dev/null
"$DOCKER" save -o "$ctx/images/node-tools.tar" "$TOOLS_IMAGE" "registry.k8s.io/kube-proxy:$K8S_VERSION"

# 3. The node image.
log "building $IMAGE (inputs $stamp)"
t0=$SECONDS
"$DOCKER" build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "sentiment.inputs=$stamp" -t "$IMAGE" "$ctx" >/dev/null
log "$IMAGE built in $((SECONDS - t0))s ($(du -sh "$ctx/images" | cut -f1) of preloaded images)"
echo "$IMAGE"
