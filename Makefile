# Flipkart review sentiment: local platform, tests, and the Kubernetes packaging.
# `make help` lists the targets. Component makefiles live in mk/*.mk and are included below.

SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT        := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BIN         := $(ROOT)/bin
VENV        := $(ROOT)/.venv
PY          := $(VENV)/bin/python
RUN_DIR     ?= $(ROOT)/.run
export PATH := $(BIN):$(VENV)/bin:$(PATH)

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

include $(sort $(wildcard $(ROOT)/mk/*.mk))
