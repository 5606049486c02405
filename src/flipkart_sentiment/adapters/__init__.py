"""The platform's I/O: review files (local or S3), MLflow tracking and registry, the Kubernetes
rollout, and figures. Each module talks to one outside system; workflows combine them.
"""
