##@ Development

PYTEST_ARGS ?=

.PHONY: test
test: venv stand-in-binaries test-system-packages ## Run the test suite: unit, integration, serving, charts, images (starts the servers it needs)
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

# Debian's PostgreSQL server: the Kubernetes backup scripts' test runs a real one; Debian's
# Chromium: the browser test (tests/browser) drives it with Playwright, which downloads no browser
# of its own (once each; sudo when not root).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
.PHONY: test-system-packages
test-system-packages: ## Install Debian's postgresql-15 and chromium if missing (the backup scripts' and the browser test)
	@ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q postgresql-15; }
	@command -v chromium > /dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

.PHONY: test-unit
test-unit: venv ## Unit tests only (no servers)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

.PHONY: lint
lint: venv ## ruff over the code, and the package's layer contracts (lint-imports, docs/architecture.md)
	$(VENV)/bin/ruff check src flows tests testkit bench scripts
	$(VENV)/bin/lint-imports

.PHONY: lock
lock: ## Regenerate requirements.lock from pyproject.toml (needs the registry)
	UV_SYSTEM_CERTS=1 $(VENV)/bin/uv pip compile --python $(PY) $(ROOT)/pyproject.toml \
	  --extra flows --extra k8s --extra dev --no-header -o $(ROOT)/requirements.lock
