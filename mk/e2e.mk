# The end-to-end test of the charts on a cluster (`make e2e`, on the current kubeconfig; CI runs
# it on the kind cluster of `make kind-up`, mk/kind.mk), its scaling run, and the stand-in images
# that replace the official PostgreSQL/MinIO/mc/Prometheus images where no registry can be reached
# (docs/cluster.md).

##@ End to end

# Extra values files for the e2e's `helm install` (space separated); without a registry,
# k8s/values-local-cluster.yaml (the stand-in images, pull policy Never).
E2E_VALUES        ?=
E2E_PYTEST_ARGS   ?=

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
