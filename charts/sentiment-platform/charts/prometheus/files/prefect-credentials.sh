#!/bin/sh
# Init container of Prometheus: the Prefect API takes its auth string (`user:password`) as HTTP
# basic auth, and Prometheus's basic_auth reads the user and the password from separate files.
# So the string is split once, into a memory volume; it never appears in the config or the pod
# spec. POSIX sh only: runs in the official image (busybox) and the stand-in alike.
set -eu
umask 077
auth="$(cat /etc/prometheus/credentials/prefect/auth-string)"
case "$auth" in
  *:*) ;;
  *) echo "prefect-credentials: the auth string is not user:password" >&2; exit 1 ;;
esac
printf '%s' "${auth%%:*}" > /run/credentials/prefect-username
printf '%s' "${auth#*:}" > /run/credentials/prefect-password
echo "prefect-credentials: /run/credentials/prefect-username and -password written"
