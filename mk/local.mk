##@ Local platform (no cluster)

PYTHON      ?= python3
MLFLOW_PORT ?= 5000
PREFECT_PORT ?= 4200
MODEL_PORT  ?= 5001
BACKUP_KEEP ?= 7
PLATFORM    := MLFLOW_PORT=$(MLFLOW_PORT) PREFECT_PORT=$(PREFECT_PORT) MODEL_PORT=$(MODEL_PORT) \
               RUN_DIR=$(RUN_DIR) VENV=$(VENV) $(ROOT)/scripts/local/platform.sh
VENV_STAMP  := $(VENV)/.installed

.PHONY: venv
venv: $(VENV_STAMP) ## Create .venv with the pinned dependencies, the package and the test kit (editable)

$(VENV_STAMP): $(ROOT)/requirements.lock $(ROOT)/pyproject.toml $(ROOT)/testkit/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check uv==0.13.9 || $(PY) -m pip install -q uv
	@# uv reads the system CA bundle, which is how registries behind a TLS proxy verify.
	UV_SYSTEM_CERTS=1 $(VENV)/bin/uv pip install -q --python $(PY) -r $(ROOT)/requirements.lock
	UV_SYSTEM_CERTS=1 $(VENV)/bin/uv pip install -q --python $(PY) --no-deps -e $(ROOT) -e $(ROOT)/testkit
	@touch $@

.PHONY: demo
demo: venv ## Whole local platform end to end: servers, training flow run, model server, curl
	$(PLATFORM) demo

.PHONY: up
up: venv ## Start MLflow (:5000), Prefect server (:4200) and a process worker
	$(PLATFORM) up

.PHONY: local-train
local-train: venv ## Create the deployment and run it with `prefect deployment run --watch`
	$(PLATFORM) train

.PHONY: serve
serve: venv ## (Re)start `mlflow models serve` on the production model (:5001)
	$(PLATFORM) serve

.PHONY: promote
promote: venv ## Make VERSION production and restart the local model server on it (reverted if it fails)
	@test -n "$(VERSION)" || { echo "usage: make promote VERSION=<registered version>"; exit 2; }
	$(PLATFORM) cli promote --version $(VERSION)

.PHONY: rollback
rollback: venv ## Back to the version production replaced, local model server included
	$(PLATFORM) cli rollback

.PHONY: monitor
monitor: venv ## Run the monitor flow now: drift and live F1 of production, MLflow run, events (docs/monitoring.md)
	$(PLATFORM) monitor

.PHONY: local-predict
local-predict: ## curl the local model server with a few reviews
	$(PLATFORM) predict

.PHONY: screenshots
screenshots: venv ## After `make demo`: PNGs of the MLflow and Prefect UIs into docs/img/ (OUT=dir; Debian's chromium)
	RUN_DIR=$(RUN_DIR) MLFLOW_PORT=$(MLFLOW_PORT) PREFECT_PORT=$(PREFECT_PORT) \
	  $(PY) $(ROOT)/scripts/local/screenshots.py $(if $(OUT),--out $(OUT))

.PHONY: status
status: ## Show which local services are running
	$(PLATFORM) status

.PHONY: down
down: ## Stop every local service (data stays in .run/)
	$(PLATFORM) down

.PHONY: backup
backup: ## Snapshot MLflow's and Prefect's DBs and the artifacts, also while running: .run/backups/<UTC time>.tar.gz (BACKUP_KEEP=7)
	BACKUP_KEEP=$(BACKUP_KEEP) $(PLATFORM) backup

.PHONY: restore
restore: ## Verify, then restore BACKUP=<archive> (default: the newest); the previous state goes to .run/backups/pre-restore-<time>/
	$(PLATFORM) restore $(BACKUP)
