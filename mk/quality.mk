##@ Quality

# `make evaluate` (`flipkart-sentiment evaluate`) trains the way training does (grouped-CV
# selection over the `full` profile, fit on train) unless told otherwise:
#   make evaluate EVAL_CANDIDATE=winner    # the full search's pick (core.profiles.WINNER), no search
#   make evaluate EVAL_CANDIDATE=<name>    # any candidate of EVAL_PROFILE, no search
#   MLFLOW_TRACKING_URI=http://127.0.0.1:5000 make evaluate EVAL_MODEL_URI=models:/flipkart-sentiment@production
# The seed recipe is always the baseline row. Output: $(REPORTS_DIR)/quality.md and PNGs.
REPORTS_DIR    ?= $(ROOT)/reports
EVAL_PROFILE   ?= full
EVAL_CANDIDATE ?=
EVAL_MODEL_URI ?=
EVAL_ARGS      ?=
EVAL_NICE      ?= nice -n 19

.PHONY: evaluate
evaluate: venv ## Model-quality report: test P/R/F1, confusion matrices, CheckList pass rates -> reports/quality.md
	$(EVAL_NICE) $(VENV)/bin/flipkart-sentiment evaluate --out $(REPORTS_DIR) --profile $(EVAL_PROFILE) \
	  $(if $(EVAL_CANDIDATE),--candidate $(EVAL_CANDIDATE)) \
	  $(if $(EVAL_MODEL_URI),--model-uri $(EVAL_MODEL_URI)) $(EVAL_ARGS)

.PHONY: test-quality
test-quality: venv ## CheckList and test-set floors for the CV winner (pytest -m quality, ~1 min)
	$(EVAL_NICE) $(PY) -m pytest tests/quality -m quality -p no:cacheprovider $(PYTEST_ARGS)
