#!/usr/bin/env bash
# Stop the local cluster started by up.sh and clean up after it: its containers, mounts,
# network namespaces, bridge, iptables chains, kube-router's ipsets and state, so that the next
# up.sh starts fresh.
# Only what up.sh started is touched (by pid file, or by our containerd's own socket path).
#   KEEP_STATE=1  keep etcd data, containerd images and volumes (stop processes only)
#   PURGE=1       also remove containerd's image store (default: kept, see below)
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
T0=$SECONDS
log() { printf '[cluster-down +%3ss] %s\n' "$((SECONDS - T0))" "$*" >&2; }
[[ $EUID -eq 0 ]] || { log "must run as root"; exit 1; }

stop() { # name [timeout]
  local name=$1 timeout=${2:-20} pidf="$CLUSTER_DIR/pids/$1.pid" pid
  pid=$(cat "$pidf" 2>/dev/null) || return 0
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < timeout * 5; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "killing $name"; kill -KILL "$pid" 2>/dev/null; }
  fi
  rm -f "$pidf"
}

# kube-router first, so that it does not re-create its chains while they are being removed.
stop kube-router
stop hostpath-provisioner 5
stop kube-proxy
stop kubelet

# Containers of our containerd (namespace k8s.io), then the daemon and its shims.
if [[ -S "$CTR_SOCK" ]] && ctr -a "$CTR_SOCK" version >/dev/null 2>&1; then
  tasks=$(ctr -a "$CTR_SOCK" -n k8s.io tasks ls -q 2>/dev/null)
  [[ -n "$tasks" ]] && log "killing $(wc -w <<<"$tasks") containers"
  for t in $tasks; do ctr -a "$CTR_SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  for t in $tasks; do
    for ((i = 0; i < 25; i++)); do
      ctr -a "$CTR_SOCK" -n k8s.io tasks delete "$t" >/dev/null 2>&1 && break; sleep 0.2
    done
  done
  for c in $(ctr -a "$CTR_SOCK" -n k8s.io containers ls -q 2>/dev/null); do
    ctr -a "$CTR_SOCK" -n k8s.io containers rm "$c" >/dev/null 2>&1
  done
fi
stop containerd
# Shims are started with "-address <our socket>", which no other containerd uses.
for pid in $(pgrep -f -- "containerd-shim-runc-v2 .*-address $CTR_SOCK" 2>/dev/null); do
  log "killing leftover shim $pid"; kill -KILL "$pid" 2>/dev/null
done

stop kube-scheduler
stop kube-controller-manager
stop kube-apiserver
stop etcd

# Mounts under our directories (deepest first) and the pod network namespaces.
umount_under() {
  local dir
  for dir in "$@"; do
    awk -v d="$dir" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r |
      while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  done
}
umount_under "$KUBELET_DIR" "$K8S_STATE" "$K8S_RUN"
for ns in /run/netns/cni-*; do
  [[ -e "$ns" ]] || continue
  umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null; rm -f "$ns"
done

# Network: bridge, and the iptables chains of kube-proxy and kube-router (KUBE-*: kube-router's
# are KUBE-ROUTER-*, KUBE-POD-FW-*, KUBE-NWPLCY-*), CNI (CNI-*) and ours. (kube-router's own
# --cleanup-config is not used: it also flushes every IPVS table on the machine.)
ip link del "$CNI_BRIDGE" 2>/dev/null && log "deleted bridge $CNI_BRIDGE"
while ip rule del iif "$CNI_BRIDGE" to "$SERVICE_CIDR" unreachable 2>/dev/null; do :; done
[[ -x "$K8S_BIN/kube-proxy" ]] && "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1
for tool in iptables ip6tables; do
  command -v "$tool" >/dev/null || continue
  for table in filter nat mangle raw; do
    rules=$("$tool" -t "$table" -S 2>/dev/null) || continue
    # Rules in any chain that jump to one of ours.
    grep -E -- '^-A .* -j (KUBE-|CNI-|'"$FWD_CHAIN"')' <<<"$rules" | grep -Ev '^-A (KUBE-|CNI-|'"$FWD_CHAIN"')' |
      while read -r rule; do eval "$tool -t $table ${rule/-A/-D}" 2>/dev/null; done
    for chain in $(grep -Eo -- '^-N (KUBE-|CNI-|'"$FWD_CHAIN"')[^ ]*' <<<"$rules" | awk '{print $2}'); do
      "$tool" -t "$table" -F "$chain" 2>/dev/null
    done
    for chain in $(grep -Eo -- '^-N (KUBE-|CNI-|'"$FWD_CHAIN"')[^ ]*' <<<"$rules" | awk '{print $2}'); do
      "$tool" -t "$table" -X "$chain" 2>/dev/null
    done
  done
done
# kube-router's ipsets (NetworkPolicy pod/ipBlock sets; TMP-* are its swap sets), once no rule
# refers to them.
if command -v ipset >/dev/null; then
  sets=$(ipset list -n 2>/dev/null | grep -E '^(inet6:)?(KUBE-SRC-|KUBE-DST-|TMP-[A-Z2-7]{16}$)')
  [[ -n "$sets" ]] && log "destroying $(wc -w <<<"$sets") kube-router ipsets"
  for set in $sets; do ipset destroy "$set" 2>/dev/null || log "warning: ipset $set not destroyed"; done
fi
conntrack -D -s "$POD_CIDR" >/dev/null 2>&1
conntrack -D -d "$SERVICE_CIDR" >/dev/null 2>&1

if [[ "${KEEP_STATE:-0}" != 1 ]]; then
  # The cluster's state goes; containerd's image store stays (unpacked images are ~100k files
  # and take minutes to delete; keeping them also makes the next load-images quick).
  # PURGE=1 removes it too.
  log "removing cluster state (etcd, kubelet, volumes, CNI)"
  rm -rf "$KUBELET_DIR" "$K8S_RUN" "$CLUSTER_DIR/pids" /var/log/pods /var/log/containers
  if [[ -d "$K8S_STATE" ]]; then
    find "$K8S_STATE" -mindepth 1 -maxdepth 1 ! -name containerd -exec rm -rf {} +
  fi
  if [[ "${PURGE:-0}" == 1 ]]; then
    log "PURGE=1: removing containerd's image store too"
    rm -rf "$K8S_STATE" "$CLUSTER_DIR/images"
  fi
fi
log "cluster down"
