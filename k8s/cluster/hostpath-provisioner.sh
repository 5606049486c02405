#!/usr/bin/env bash
# A minimal dynamic provisioner for the local cluster's StorageClass "standard"
# (provisioner sentiment.local/hostpath): for each Pending claim of that class it makes a
# world-writable directory under $K8S_STATE/pv and a hostPath PV bound to the claim; when the
# claim is gone (PV Released/Failed) it deletes the PV and the directory. Single node only.
# up.sh runs it as a host process; logs go to $RUN_DIR/cluster/logs/hostpath-provisioner.log.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/env.sh"
PROVISIONER=sentiment.local/hostpath
PV_DIR="$K8S_STATE/pv"
mkdir -p "$PV_DIR"
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" --request-timeout=20s "$@"; }
log() { echo "$(date -Is) $*"; }

classes() { # storage classes served here (space separated)
  kc get storageclass -o jsonpath="{range .items[?(@.provisioner==\"$PROVISIONER\")]}{.metadata.name}{' '}{.metadata.annotations.storageclass\.kubernetes\.io/is-default-class}{'\n'}{end}"
}

while true; do
  mine=(); default_mine=0
  while read -r name def; do
    [[ -n "$name" ]] || continue
    mine+=("$name"); [[ "$def" == "true" ]] && default_mine=1
  done < <(classes 2>/dev/null)
  if ((${#mine[@]})); then
    # Pending claims: namespace name class size uid accessModes
    kc get pvc -A -o jsonpath='{range .items[?(@.status.phase=="Pending")]}{.metadata.namespace}{"\t"}{.metadata.name}{"\t"}{.spec.storageClassName}{"\t"}{.spec.resources.requests.storage}{"\t"}{.metadata.uid}{"\t"}{.spec.accessModes[*]}{"\t"}{.spec.volumeName}{"\n"}{end}' 2>/dev/null |
    while IFS=$'\t' read -r ns name class size uid modes vol; do
      [[ -n "$uid" && -z "$vol" ]] || continue
      if [[ -z "$class" ]]; then ((default_mine)) || continue; class="${mine[0]}"; fi
      [[ " ${mine[*]} " == *" $class "* ]] || continue
      pv="pvc-$uid"
      kc get pv "$pv" >/dev/null 2>&1 && continue
      dir="$PV_DIR/$pv"
      mkdir -p "$dir" && chmod 0777 "$dir"
      modes_yaml=$(for m in $modes; do printf '%s,' "$m"; done); modes_yaml="[${modes_yaml%,}]"
      [[ "$modes_yaml" == "[]" ]] && modes_yaml="[ReadWriteOnce]"
      if kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $pv
  annotations: {pv.kubernetes.io/provisioned-by: $PROVISIONER}
  labels: {sentiment.local/hostpath: "true"}
spec:
  capacity: {storage: ${size:-1Gi}}
  accessModes: $modes_yaml
  persistentVolumeReclaimPolicy: Retain
  storageClassName: $class
  volumeMode: Filesystem
  claimRef: {namespace: $ns, name: $name, uid: $uid}
  hostPath: {path: $dir, type: Directory}
YAML
      then log "provisioned $pv for $ns/$name ($size, $class)"; else log "failed to create $pv for $ns/$name"; fi
    done
  fi
  # Released or Failed PVs of ours: delete the PV and its directory.
  kc get pv -l sentiment.local/hostpath=true -o jsonpath='{range .items[?(@.status.phase!="Bound")]}{.metadata.name}{"\t"}{.status.phase}{"\t"}{.spec.hostPath.path}{"\n"}{end}' 2>/dev/null |
  while IFS=$'\t' read -r pv phase dir; do
    [[ "$phase" == Released || "$phase" == Failed ]] || continue
    if kc delete pv "$pv" --wait=false >/dev/null 2>&1; then
      [[ "$dir" == "$PV_DIR"/pvc-* ]] && rm -rf "$dir"
      log "deleted $pv ($phase)"
    fi
  done
  sleep 2
done
