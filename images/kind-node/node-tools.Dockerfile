# The node-level tools image of the kind node built here, tagged twice by build.sh:
#   registry.k8s.io/kube-proxy:<k8s version>   the name kubeadm's kube-proxy DaemonSet uses
#   sentiment.local/kind-node-tools:<version>  kube-router (default-cni.yaml) and the
#                                              local-path helper pods (default-storage.yaml)
# kube-proxy and kube-router program iptables and ipsets, so they need those tools next to them.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iptables ipset conntrack kmod iproute2; \
    rm -rf /var/lib/apt/lists/*
COPY kube-proxy kube-router /usr/local/bin/
