# Backups of the Helm release on Kubernetes: the CronJob <release>-backup and the suspended
# CronJob <release>-restore of the umbrella chart, run on demand. The logic is in
# scripts/k8s/backup.py; docs/kubernetes.md, "Backups and restore", has the plain kubectl steps.

##@ Kubernetes backups

# These use the current kubeconfig and context, like `make e2e` (after `make kind-up`, the kind
# cluster's); to name it: K8S_KUBECTL_ARGS='--context kind-sentiment'.
K8S_KUBECTL_ARGS   ?=
# Seconds to wait for the backup or restore Job.
K8S_BACKUP_TIMEOUT ?= 3600
K8S_BACKUP = $(PY) $(ROOT)/scripts/k8s/backup.py --kubectl "$(KUBECTL) $(K8S_KUBECTL_ARGS)" \
  --namespace $(NAMESPACE) --release $(RELEASE) --timeout $(K8S_BACKUP_TIMEOUT)

.PHONY: k8s-backup
k8s-backup: ## Back up the release now (a Job from cronjob/<release>-backup), wait, print its log
	$(K8S_BACKUP) backup

.PHONY: k8s-restore
k8s-restore: ## Restore BACKUP=<name>|latest: stop MLflow + Prefect, run <release>-restore, start them again (refused while flow runs run; STOP_FLOW_RUNS=1 deletes their Jobs)
	@# BACKUP is also `make restore`'s (mk/local.mk, empty: the newest), so no default here.
	$(K8S_BACKUP) restore --backup "$(or $(BACKUP),latest)" $(if $(STOP_FLOW_RUNS),--stop-flow-runs)
