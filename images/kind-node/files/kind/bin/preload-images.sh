#!/bin/bash
# kind-preload-images.service: import /kind/images/*.tar into containerd (k8s.io namespace).
set -euo pipefail
for _ in $(seq 60); do ctr version >/dev/null 2>&1 && break; sleep 1; done
for tar in /kind/images/*.tar; do
  ctr -n k8s.io images import "$tar"
done
ctr -n k8s.io images ls -q
