# The platform on a local kind cluster, plus the offline chart checks. With internet access kind
# pulls its node image and the charts pull the official postgres/minio images; without a registry,
# `make kind-node-image` builds the node image and k8s/values-local-cluster.yaml swaps in the
# stand-ins (docs/cluster.md; CI does this). docs/kubernetes.md explains the pieces. Tools come
# from `make tools` (mk/tools.mk).

##@ Kubernetes (kind)

KIND_CLUSTER     ?= sentiment
# The node image kind $(KIND_VERSION) is released with (pinned by digest). Where no registry can
# be reached, `make kind-node-image` builds one here: KIND_NODE_IMAGE=$(LOCAL_KIND_NODE_IMAGE).
KIND_NODE_IMAGE  ?= kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5
LOCAL_KIND_NODE_IMAGE := $(shell sed -n 's/^KIND_NODE_IMAGE_NAME=//p' $(ROOT)/images/kind-node/versions.env):$(shell sed -n 's/^K8S_VERSION=//p' $(ROOT)/images/kind-node/versions.env)
KIND_CONFIG      ?= $(ROOT)/k8s/kind-config.yaml
KUBE_CONTEXT     ?= kind-$(KIND_CLUSTER)
RELEASE          ?= sentiment
NAMESPACE        ?= sentiment
CHART            := $(ROOT)/charts/sentiment-platform
CHART_PARTS      := $(wildcard $(CHART)/charts/*/Chart.yaml)
# Values files of kind-up's `helm upgrade --install` (space separated). Without a registry, add
# k8s/values-local-cluster.yaml (the stand-in images) and load them with KIND_EXTRA_IMAGES.
KIND_VALUES      ?= $(CHART)/values-kind.yaml
# Images kind-up loads into the node besides the platform's four (e.g. the stand-ins).
KIND_EXTRA_IMAGES ?=
HELM_TIMEOUT     ?= 20m
IMAGE_TAG        ?= 0.1.0
PLATFORM_IMAGES  ?= sentiment-trainer sentiment-mlflow sentiment-prefect sentiment-model-server
# How the four images get built into the local docker daemon (images/, mk/images.mk).
IMAGES_BUILD     ?= $(MAKE) -C $(ROOT) images
# Host ports published by k8s/kind-config.yaml.
MLFLOW_URL       ?= http://localhost:5000
PREFECT_URL      ?= http://localhost:4200
MODEL_URL        ?= http://localhost:5001
WORK_POOL        ?= kubernetes
FLOW_DEPLOYMENT  ?= train-sentiment/daily
# Extra args for `prefect deployment run`, e.g. TRAIN_ARGS='--param search=quick'.
TRAIN_ARGS       ?=
PREDICT_BODY     ?= {"inputs": ["Great racquet, very light and the strings hold well", "Worst purchase, the frame cracked in two days"]}

# Recursive (=): HELM/KUBECTL are defined in mk/tools.mk, which is included after this file.
KUBECTL_CTX = $(KUBECTL) --context $(KUBE_CONTEXT)
HELM_CTX    = $(HELM) --kube-context $(KUBE_CONTEXT)
# A key of one of the release's generated Secrets (docs/kubernetes.md, "Secrets"), read when the
# command runs: the credentials never pass through make's variables or the shell history.
KIND_SECRET = $$($(KUBECTL_CTX) -n $(NAMESPACE) get secret $(RELEASE)-$(1) -o jsonpath='{.data.$(2)}' | base64 -d)
PREFECT_CLIENT = PREFECT_API_URL=$(PREFECT_URL)/api \
  PREFECT_API_AUTH_STRING="$(call KIND_SECRET,prefect-auth,auth-string)"

.PHONY: kind-up
kind-up: tools ## Create the kind cluster, build + load the images, helm install --wait, create the work pool and flow deployment
	@command -v docker >/dev/null || { echo "kind-up needs docker"; exit 1; }
	@if $(KIND) get clusters 2>/dev/null | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind cluster $(KIND_CLUSTER) exists"; \
	else \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --image $(KIND_NODE_IMAGE) --config $(KIND_CONFIG) --wait 120s; \
	fi
	$(IMAGES_BUILD)
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(foreach i,$(PLATFORM_IMAGES),$(i):$(IMAGE_TAG)) $(KIND_EXTRA_IMAGES)
	$(HELM) dependency build $(CHART)
	$(HELM_CTX) upgrade --install $(RELEASE) $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  $(foreach v,$(KIND_VALUES),-f $(v)) --wait --timeout $(HELM_TIMEOUT)
	@# The worker's init container already created/synced the pool; doing it again from the
	@# rendered ConfigMap makes the pool explicit and shows its template in the output.
	@mkdir -p $(RUN_DIR)
	$(KUBECTL_CTX) -n $(NAMESPACE) get configmap $(RELEASE)-prefect-worker-base-job-template \
	  -o jsonpath='{.data.base-job-template\.json}' > $(RUN_DIR)/base-job-template.json
	@for i in $$(seq 60); do curl -fsS $(PREFECT_URL)/api/health >/dev/null 2>&1 && break; sleep 2; done
	$(PREFECT_CLIENT) $(VENV)/bin/prefect work-pool create $(WORK_POOL) --type kubernetes \
	  --base-job-template $(RUN_DIR)/base-job-template.json --overwrite
	cd $(ROOT) && $(PREFECT_CLIENT) $(PY) flows/deploy.py kubernetes --image sentiment-trainer:$(IMAGE_TAG)
	@$(MAKE) --no-print-directory kind-next-steps

.PHONY: kind-next-steps
kind-next-steps: ## Print the URLs and the next commands for the kind cluster
	@echo
	@echo "Platform is up (release $(RELEASE), namespace $(NAMESPACE), context $(KUBE_CONTEXT)):"
	@echo "  MLflow UI     $(MLFLOW_URL)   (user admin; make kind-credentials prints the passwords)"
	@echo "  Prefect UI    $(PREFECT_URL)   (asks for the auth string)"
	@echo "  Model server  $(MODEL_URL)  (503 until the first training run rolls a model out)"
	@echo "Next:"
	@echo "  make train      # prefect deployment run $(FLOW_DEPLOYMENT) --watch (a Job in $(NAMESPACE))"
	@echo "  make predict    # curl $(MODEL_URL)/invocations (X-Model-Version names the version)"
	@echo "  make kind-promote VERSION=N / make kind-rollback   # verified, reverted on failure"
	@echo "  kubectl --context $(KUBE_CONTEXT) -n $(NAMESPACE) get pods"
	@echo "  make kind-down  # delete the cluster"

.PHONY: kind-credentials
kind-credentials: ## Print the UI logins of the kind release (MLflow admin password, Prefect auth string)
	@echo "MLflow  admin / $(call KIND_SECRET,mlflow-auth,admin-password)"
	@echo "Prefect $(call KIND_SECRET,prefect-auth,auth-string)"

.PHONY: kind-status
kind-status: ## Show the release's pods, jobs and services on the kind cluster
	$(KUBECTL_CTX) -n $(NAMESPACE) get pods,jobs,svc,pvc

.PHONY: kind-down
kind-down: ## Delete the kind cluster (and everything in it)
	$(KIND) delete cluster --name $(KIND_CLUSTER)

.PHONY: kind-uninstall
kind-uninstall: ## helm uninstall the release from the kind cluster and delete its namespace (the cluster stays)
	$(HELM_CTX) uninstall $(RELEASE) --namespace $(NAMESPACE) --wait --ignore-not-found
	$(KUBECTL_CTX) delete namespace $(NAMESPACE) --ignore-not-found --wait

.PHONY: kind-node-binaries
kind-node-binaries: ## Build only the node image's binaries (Go module proxy) into .cache/kind-node/bin; no docker
	$(ROOT)/images/kind-node/build-binaries.sh

.PHONY: kind-node-image
kind-node-image: ## Build the kind node image sentiment-kind-node:<k8s version> here, for machines with no registry (docs/cluster.md)
	$(ROOT)/images/kind-node/build.sh

.PHONY: kind-node-image-name
kind-node-image-name: ## Print the name of the node image kind-node-image builds
	@echo $(LOCAL_KIND_NODE_IMAGE)

.PHONY: kind-verify-netpol
kind-verify-netpol: ## Check with real pod traffic that the kind cluster enforces NetworkPolicies (node image built here)
	KIND_CLUSTER=$(KIND_CLUSTER) KIND=$(KIND) KUBECTL=$(KUBECTL) $(ROOT)/images/kind-node/verify-netpol.sh

.PHONY: train
train: ## Run the training deployment on the cluster and watch it (TRAIN_ARGS='--param search=quick')
	$(PREFECT_CLIENT) $(VENV)/bin/prefect deployment run $(FLOW_DEPLOYMENT) --watch $(TRAIN_ARGS)

.PHONY: predict
predict: ## curl the model server's /invocations (PREDICT_BODY=<json>); shows which version answered
	@mkdir -p $(RUN_DIR)
	@rm -f $(RUN_DIR)/predict.json $(RUN_DIR)/predict.headers
	@# A failed request fails the target (CI runs it), after printing the server's answer.
	@curl -sS --fail-with-body -D $(RUN_DIR)/predict.headers -o $(RUN_DIR)/predict.json \
	  $(MODEL_URL)/invocations -H 'Content-Type: application/json' -d '$(PREDICT_BODY)'; rc=$$?; \
	  grep -i '^x-model-' $(RUN_DIR)/predict.headers 2>/dev/null; \
	  cat $(RUN_DIR)/predict.json 2>/dev/null; echo; exit $$rc

# What the CLI needs to promote/roll back on the kind cluster from this machine.
KIND_DELIVERY_ENV = MLFLOW_TRACKING_URI=$(MLFLOW_URL) MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false \
  SENTIMENT_ROLLOUT_TARGET=kubernetes \
  MLFLOW_TRACKING_USERNAME=trainer MLFLOW_TRACKING_PASSWORD="$(call KIND_SECRET,mlflow-auth,trainer-password)" \
  SENTIMENT_ROLLOUT_DEPLOYMENT=$(RELEASE)-model-server SENTIMENT_ROLLOUT_NAMESPACE=$(NAMESPACE)

.PHONY: kind-promote
kind-promote: ## Make VERSION production and roll the cluster's model server onto it (reverted if it fails)
	@test -n "$(VERSION)" || { echo "usage: make kind-promote VERSION=<registered version>"; exit 2; }
	$(KUBECTL) config use-context $(KUBE_CONTEXT) >/dev/null
	$(KIND_DELIVERY_ENV) $(VENV)/bin/flipkart-sentiment promote --version $(VERSION)

.PHONY: kind-rollback
kind-rollback: ## Back to the version production replaced, and the cluster's model server with it
	$(KUBECTL) config use-context $(KUBE_CONTEXT) >/dev/null
	$(KIND_DELIVERY_ENV) $(VENV)/bin/flipkart-sentiment rollback

##@ Charts (offline checks)

.PHONY: helm-deps
helm-deps: tool-helm ## helm dependency build of the umbrella chart (local subcharts, offline)
	$(HELM) dependency build $(CHART)

.PHONY: helm-lint
helm-lint: helm-deps ## helm lint the umbrella chart and every part, with default and kind values
	$(HELM) lint $(CHART)
	$(HELM) lint $(CHART) -f $(CHART)/values-kind.yaml
	@# A part's kind values are its section of the umbrella's values-kind.yaml (the only copy).
	@set -eo pipefail; for c in $(dir $(CHART_PARTS)); do \
	  echo "helm lint $$c (default values, then its section of values-kind.yaml)"; \
	  $(HELM) lint $$c; \
	  $(PY) -m sentiment_testkit.charts part-values $$(basename $$c) $(CHART)/values-kind.yaml \
	    | $(HELM) lint $$c -f -; done

.PHONY: helm-template
helm-template: helm-deps ## Render the chart (default and kind values) into .run/charts/ for reading
	@mkdir -p $(RUN_DIR)/charts
	$(HELM) template $(RELEASE) $(CHART) -n $(NAMESPACE) > $(RUN_DIR)/charts/default.yaml
	$(HELM) template $(RELEASE) $(CHART) -n $(NAMESPACE) $(foreach v,$(KIND_VALUES),-f $(v)) > $(RUN_DIR)/charts/kind.yaml
	@echo "rendered: $(RUN_DIR)/charts/default.yaml $(RUN_DIR)/charts/kind.yaml"

.PHONY: chart-validate
chart-validate: tool-kubeconform tool-schemas helm-template ## Validate the rendered manifests against the offline Kubernetes schemas (kubeconform)
	$(KUBECONFORM) -strict -summary -kubernetes-version $(K8S_SCHEMA_VERSION) \
	  -schema-location '$(KUBECONFORM_SCHEMA_LOCATION)' \
	  $(RUN_DIR)/charts/default.yaml $(RUN_DIR)/charts/kind.yaml

.PHONY: chart-release
chart-release: helm-deps ## Package the umbrella chart into releases/ (the chart repository the upgrade checks start from); then tag v<version>
	$(HELM) package $(CHART) -d releases/
	$(HELM) repo index releases/
	@echo "commit releases/ and tag it: git tag v$$($(HELM) show chart $(CHART) | sed -n 's/^version: //p')"

.PHONY: chart-test
chart-test: tool-helm tool-kubeconform tool-schemas ## Chart tests: lint, render, kubeconform and the rendered-manifest assertions (tests/charts)
	$(PY) -m pytest tests/charts -q
