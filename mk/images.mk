# Container images: sentiment-{trainer,mlflow,prefect,model-server}:$(IMAGE_TAG), the targets of the
# one multi-stage images/Dockerfile, built from the repository root by scripts/docker/build-image.sh
# (which starts dockerd if needed, picks a BuildKit client, passes the CA bundle as a build secret
# and the data directory as the trainer's `data` context). BASE_IMAGE defaults to python:3.11-slim;
# when no registry is reachable the script uses the debootstrapped sentiment-base:bookworm instead.
# The targets share the Dockerfile's `base` stage, so `make images` builds it once. See docs/images.md.

##@ Images

IMAGE_TAG   ?= 0.1.0
# Empty = automatic (python:3.11-slim if present or pullable, else sentiment-base:bookworm).
BASE_IMAGE  ?=
DATA_DIR    ?= $(abspath $(ROOT)/../shared/data)
# NO_CACHE=1 rebuilds every layer (a cold build). `make images NO_CACHE=1` does it with one
# CACHE_BUST id for the four (see build-image.sh), so they still share one freshly built base stage.
NO_CACHE    ?= 0
IMAGE_NAMES := trainer mlflow prefect model-server
IMAGES_TEST_ARGS ?=

IMAGE_ENV := RUN_DIR=$(RUN_DIR) IMAGE_TAG=$(IMAGE_TAG) BASE_IMAGE=$(BASE_IMAGE) \
             DATA_DIR=$(DATA_DIR) NO_CACHE=$(NO_CACHE)
BUILD_IMAGE := $(IMAGE_ENV) $(ROOT)/scripts/docker/build-image.sh

.PHONY: docker-up
docker-up: ## Start dockerd if it is not answering (installs Debian docker.io if missing)
	@RUN_DIR=$(RUN_DIR) $(ROOT)/scripts/docker/dockerd-up.sh

.PHONY: base-image
base-image: ## Build sentiment-base:bookworm (debootstrap + docker import) for registry-less machines
	@RUN_DIR=$(RUN_DIR) $(ROOT)/scripts/docker/base-image.sh

.PHONY: images
images: ## Build all four images (BASE_IMAGE=..., IMAGE_TAG=..., NO_CACHE=1 for a cold build)
	@set -e; bust=$$(date +%s%N); for n in $(IMAGE_NAMES); do CACHE_BUST=$$bust $(BUILD_IMAGE) $$n; done
	@$(MAKE) --no-print-directory images-list

.PHONY: image-trainer
image-trainer: ## Build sentiment-trainer (package + flows + data)
	@$(BUILD_IMAGE) trainer

.PHONY: image-mlflow
image-mlflow: ## Build sentiment-mlflow (MLflow server + psycopg2 + boto3)
	@$(BUILD_IMAGE) mlflow

.PHONY: image-prefect
image-prefect: ## Build sentiment-prefect (Prefect server/worker + prefect-kubernetes)
	@$(BUILD_IMAGE) prefect

.PHONY: image-model-server
image-model-server: ## Build sentiment-model-server (mlflow models serve + the pyfunc's deps)
	@$(BUILD_IMAGE) model-server

.PHONY: images-list
images-list: ## List the built images with their sizes, and the recorded build times
	@docker images --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}\t{{.CreatedSince}}' \
	  | grep -E '^(REPOSITORY|sentiment-)' || true
	@if [ -f $(RUN_DIR)/images/build-times.log ]; then echo; echo "last builds ($(RUN_DIR)/images/build-times.log):"; \
	  tail -n 8 $(RUN_DIR)/images/build-times.log; fi

.PHONY: images-test
images-test: ## Image smoke tests: build, then trainer -> registry, model server -> curl, mlflow /health
	$(IMAGE_ENV) $(PY) -m pytest tests/images -m images -v $(IMAGES_TEST_ARGS)
