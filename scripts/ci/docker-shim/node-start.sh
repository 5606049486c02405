#!/bin/bash
# Runs first in a kind node started by the CI docker shim (./docker), then execs the image's own
# entrypoint. Without --privileged docker mounts cgroupfs read-only and passes no host devices;
# systemd, kind's entrypoint and the kubelet need both, so this gives them what --privileged would.
set -euo pipefail
mount -o remount,rw /sys/fs/cgroup
# cgroup v1: every controller is its own mount (cgroup v2: the loop finds none).
while read -r _ mnt fstype _; do
  # (a bind remount changes only this mount's flag; a plain remount of a cgroup v1 fs is refused as busy)
  if [[ "$fstype" == cgroup ]]; then mount -o remount,bind,rw "$mnt"; fi
done < /proc/mounts
# The kubelet's OOM watcher reads the kernel log.
[[ -e /dev/kmsg ]] || mknod -m 600 /dev/kmsg c 1 11
exec "$@"
