#!/usr/bin/env bash
# Show the local cluster's host processes, node and pods.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
for f in "$CLUSTER_DIR"/pids/*.pid; do
  [[ -e "$f" ]] || { echo "no cluster processes recorded"; break; }
  n=$(basename "$f" .pid); p=$(cat "$f")
  if kill -0 "$p" 2>/dev/null; then s=running; else s=STOPPED; fi
  printf '%-26s %-8s pid %s\n' "$n" "$s" "$p"
done
[[ -s "$KUBECONFIG_OUT" ]] || exit 0
"$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" --request-timeout=5s get nodes -o wide 2>&1
"$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" --request-timeout=5s get pods -A -o wide 2>&1
