#!/usr/bin/env bash
# Entrypoint of the MinIO stand-in, like upstream's: `server ...` / `--flag ...` -> `minio ...`.
set -euo pipefail
if [[ "${1:-}" == server || "${1:-}" == -* ]]; then set -- minio "$@"; fi
exec "$@"
