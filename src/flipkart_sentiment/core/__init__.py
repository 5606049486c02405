"""Modelling, with no I/O: labels, text processing, the estimators and their compiled predict
path, the search profiles, the grouped split, cross-validation and the metrics.

The bottom layer: it imports nothing else of the package, and neither MLflow nor Prefect
(lint's import contracts check both; docs/architecture.md).
"""
