##@ Benchmarks

# BENCH_QUICK=1: a fast smoke run (short wrk runs, 1 worker, quick search, scales x1 x2).
BENCH_QUICK ?=
BENCH_OUT   ?= $(RUN_DIR)/bench
BENCH_RUN   := BENCH_QUICK=$(BENCH_QUICK) BENCH_OUT=$(BENCH_OUT) $(PY)

.PHONY: bench
bench: venv bench-tools ## Serving, training and batch-scoring benchmarks: print tables, write BENCHMARKS.md (BENCH_QUICK=1 for a smoke run)
	$(BENCH_RUN) $(ROOT)/bench/training.py
	$(BENCH_RUN) $(ROOT)/bench/serving.py
	$(BENCH_RUN) $(ROOT)/bench/batch_scoring.py
	$(BENCH_RUN) $(ROOT)/bench/report.py

.PHONY: bench-batch
bench-batch: venv ## Batch-scoring benchmark only (1/2/4 local shards on x10 grown data, 1M reviews end to end), then BENCHMARKS.md
	$(BENCH_RUN) $(ROOT)/bench/batch_scoring.py
	$(BENCH_RUN) $(ROOT)/bench/report.py

.PHONY: bench-serving
bench-serving: venv bench-tools ## Serving benchmark only (wrk against `mlflow models serve`), then BENCHMARKS.md
	$(BENCH_RUN) $(ROOT)/bench/serving.py
	$(BENCH_RUN) $(ROOT)/bench/report.py

.PHONY: bench-training
bench-training: venv ## Training benchmark only (flow wall time, preprocessing, x1/x4/x16), then BENCHMARKS.md
	$(BENCH_RUN) $(ROOT)/bench/training.py
	$(BENCH_RUN) $(ROOT)/bench/report.py

.PHONY: bench-train-scale
bench-train-scale: venv ## Training on grown data x1/x10/x100, the fit alone and the whole flow: wall time, peak RSS
	$(BENCH_RUN) $(ROOT)/bench/train_scale.py 1 10 100
	$(BENCH_RUN) $(ROOT)/bench/train_scale.py flow 1 10 100
	$(BENCH_RUN) $(ROOT)/bench/report.py

.PHONY: bench-report
bench-report: venv ## Print the last benchmark tables and rewrite BENCHMARKS.md from $(BENCH_OUT)
	$(BENCH_RUN) $(ROOT)/bench/report.py

.PHONY: bench-tools
bench-tools: ## Install wrk (the HTTP load generator, from Debian) if it is missing
	@command -v wrk >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y wrk || \
	  { $$SUDO apt-get -o DPkg::Lock::Timeout=600 update && \
	    $$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y wrk; }; }
