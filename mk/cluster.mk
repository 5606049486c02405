# A single-node Kubernetes cluster run directly on this machine, for machines that reach only
# package registries (no container registry: kind cannot pull its node image there). With
# internet, use `make kind-up` instead. See docs/cluster.md.
#
# Everything comes from the Go module proxy (Kubernetes v1.34 components, CoreDNS, kube-router for
# NetworkPolicy, MinIO) and Debian (etcd, containerd, runc, CNI plugins, iptables, ipset,
# PostgreSQL); images built with docker are copied into the cluster's containerd with
# `make cluster-load-images`.

##@ Cluster

CLUSTER_DIR       := $(ROOT)/k8s/cluster
CLUSTER_KUBECONFIG := $(RUN_DIR)/kube/config
# Images copied from docker into the local cluster (cluster-load-images) and tested (e2e).
E2E_IMAGES        ?= sentiment-trainer:0.1.0 sentiment-mlflow:0.1.0 sentiment-prefect:0.1.0 \
                     sentiment-model-server:0.1.0 stand-in/postgres:15 stand-in/minio:20260212 \
                     stand-in/mc:20250313 stand-in/prometheus:3.16
# Extra values files for the e2e's `helm install` (space separated); the local cluster needs
# k8s/values-local-cluster.yaml (stand-in images, local pull policy).
E2E_VALUES        ?=
E2E_PYTEST_ARGS   ?=

.PHONY: cluster-build
cluster-build: ## Build the local cluster's binaries (Kubernetes, CoreDNS) from the Go module proxy
	RUN_DIR=$(RUN_DIR) $(CLUSTER_DIR)/build.sh

.PHONY: cluster-up
cluster-up: ## Start the local single-node cluster (no registry needed); kubeconfig in .run/kube/config
	RUN_DIR=$(RUN_DIR) $(CLUSTER_DIR)/up.sh
	@echo "export KUBECONFIG=$(CLUSTER_KUBECONFIG)"

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and remove its state, mounts and iptables rules
	RUN_DIR=$(RUN_DIR) $(CLUSTER_DIR)/down.sh

.PHONY: cluster-status
cluster-status: ## Show the local cluster's processes, node and pods
	RUN_DIR=$(RUN_DIR) $(CLUSTER_DIR)/status.sh

.PHONY: cluster-verify
cluster-verify: ## Smoke-test the local cluster: a pod from an imported image, a Service via ClusterIP and DNS
	RUN_DIR=$(RUN_DIR) KUBECONFIG=$(CLUSTER_KUBECONFIG) $(CLUSTER_DIR)/verify.sh

.PHONY: cluster-verify-netpol
cluster-verify-netpol: ## Check with real pod traffic that NetworkPolicies are enforced (kube-router), < 1 min
	RUN_DIR=$(RUN_DIR) KUBECONFIG=$(CLUSTER_KUBECONFIG) $(CLUSTER_DIR)/verify-netpol.sh

.PHONY: cluster-load-images
cluster-load-images: ## Copy docker images (E2E_IMAGES) into the local cluster's containerd
	RUN_DIR=$(RUN_DIR) $(CLUSTER_DIR)/load-images.sh $(E2E_IMAGES)

.PHONY: stand-in-binaries
stand-in-binaries: ## Build only the MinIO and mc binaries into .cache/stand-ins/bin (Go module proxy; the backup tests run them)
	$(ROOT)/images/stand-ins/build.sh binaries

.PHONY: stand-in-images
stand-in-images: ## Build the PostgreSQL, MinIO, mc and Prometheus stand-in images (Debian + Go module proxy)
	$(ROOT)/images/stand-ins/build.sh

.PHONY: e2e
e2e: ## End-to-end test of the platform on the current kubeconfig (E2E_VALUES=extra values files)
	E2E_VALUES="$(E2E_VALUES)" $(PY) -m pytest -m e2e tests/e2e -v -s -p no:cacheprovider $(E2E_PYTEST_ARGS)

# Batch scoring's scaling on the cluster (`make e2e-scale`): grown data x$(SCALE_DATA), the shard
# counts compared (each shard a flow-run Job), runs per count (the figures are medians).
SCALE_DATA        ?= 100
SCALE_SHARDS      ?= 1,2,4
SCALE_REPEATS     ?= 3

.PHONY: e2e-scale
e2e-scale: ## Batch scoring on the current cluster: 1/2/4 shard Jobs on x100 grown data, median of 3 (install, train, score, uninstall)
	E2E_PREVIOUS_CHART=none E2E_SCALE=$(SCALE_DATA) E2E_SCALE_SHARDS=$(SCALE_SHARDS) \
	E2E_SCALE_REPEATS=$(SCALE_REPEATS) $(MAKE) e2e \
	E2E_PYTEST_ARGS="-k 'test_1_helm or test_2_ or test_3_ or test_11d or test_13_' $(E2E_PYTEST_ARGS)"

.PHONY: e2e-local
e2e-local: ## cluster-up, stand-in-images, cluster-verify-netpol, cluster-load-images, then e2e on the local cluster
	$(MAKE) cluster-up stand-in-images
	$(MAKE) cluster-verify-netpol
	$(MAKE) cluster-load-images
	KUBECONFIG=$(CLUSTER_KUBECONFIG) $(MAKE) e2e E2E_VALUES="$(ROOT)/k8s/values-local-cluster.yaml $(E2E_VALUES)"
