"""The summary of a training run, in markdown (the flow publishes it as a Prefect artifact)."""

from __future__ import annotations

from .training import TrainingResult

_COLUMNS = ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted", "f1_macro")


def summary_markdown(result: TrainingResult, tracking_uri: str, model_name: str) -> str:
    final = result.final
    lines = [
        f"# Training run `{result.parent_run_id}`",
        "",
        f"- data sha256 `{result.data_sha256[:16]}…`; rows used {result.data_stats.get('rows_used')}"
        f" (dropped: {result.data_stats.get('dropped_empty_text', 0)} empty text, "
        f"{result.data_stats.get('dropped_unscorable_text', 0)} unscorable text, "
        f"{result.data_stats.get('dropped_missing_rating', 0)} missing rating)",
        f"- labels: {result.label_counts}",
        f"- best candidate: **{final.params.name}** → `{model_name}` version **{result.version}**"
        " (alias `staging`)",
        f"- production: **{'moved to v' + result.version if result.decision.promote else 'unchanged'}**"
        f" — {result.decision.reason}",
        *([f"- delivery: {result.delivery.describe()}"] if result.delivery else []),
        f"- MLflow: {tracking_uri.rstrip('/')}/#/experiments (run `{result.parent_run_id}`)",
        "",
        "## Held-out test set",
        "",
        "| model | " + " | ".join(_COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in _COLUMNS) + " |",
        f"| {final.params.name} | " + " | ".join(f"{final.test_metrics[c]:.4f}" for c in _COLUMNS)
        + " |",
        "| seed recipe (baseline) | "
        + " | ".join(f"{final.baseline_metrics[c]:.4f}" for c in _COLUMNS) + " |",
        "",
        "## Search (grouped cross-validation over the training split)",
        "",
        "| candidate | cv f1_weighted | cv f1_macro | cv + fit s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for c in sorted(final.candidates, key=lambda c: -c.metrics["f1_weighted"]):
        lines.append(f"| {c.params.name} | {c.metrics['f1_weighted']:.4f} | "
                     f"{c.metrics['f1_macro']:.4f} | {c.seconds:.1f} |")
    return "\n".join(lines) + "\n"
