"""The summary of a training run, in markdown (the flow publishes it as a Prefect artifact)."""

from __future__ import annotations

from ..adapters.tracking import run_url, version_url
from .markdown import table
from .training import TrainingResult

_COLUMNS = ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted", "f1_macro")


def summary_markdown(result: TrainingResult, mlflow_ui: str, model_name: str) -> str:
    """`mlflow_ui`: where people open MLflow (Settings.mlflow_ui), for the links."""
    final, stats = result.final, result.data_stats
    run = run_url(mlflow_ui, result.parent_run_id)
    version = version_url(mlflow_ui, model_name, result.version)
    production = (f"**v{result.version} is production now**" if result.decision.promote
                  else "**production unchanged**")
    total = sum(result.label_counts.values()) or 1
    lines = [
        f"# Training run {result.run_name or result.parent_run_id}",
        "",
        f"- MLflow: [training run]({run}) · [`{model_name}` version {result.version}]({version})"
        " (alias `staging`)",
        f"- best candidate: **{final.params.name}**",
        f"- gate: {production}: {result.decision.reason}",
        *([f"- rollout: {result.delivery.describe()}"] if result.delivery else []),
        f"- data: sha256 `{result.data_sha256[:16]}…`, {stats.get('rows_used', 0):,} rows used "
        f"(dropped: {stats.get('dropped_empty_text', 0)} empty text, "
        f"{stats.get('dropped_unscorable_text', 0)} unscorable text, "
        f"{stats.get('dropped_missing_rating', 0)} missing rating)",
        "",
        "## Labels",
        "",
        *table(["label", "reviews", "share"],
                [[label, f"{n:,}", f"{n / total:.1%}"]
                 for label, n in sorted(result.label_counts.items())]),
        "",
        "## Held-out test set",
        "",
        *table(["model", *_COLUMNS], [
            [final.params.name, *(f"{final.test_metrics[c]:.4f}" for c in _COLUMNS)],
            *([["seed recipe (baseline)",
                *(f"{final.baseline_metrics[c]:.4f}" for c in _COLUMNS)]]
              if final.baseline_metrics else []),
        ]),
        "",
        "## Search (grouped cross-validation over the training split)",
        "",
        *table(["candidate", "cv f1_weighted", "cv f1_macro", "cv + fit s"], [
            [f"**{c.params.name}**" if c.params == final.params else c.params.name,
             f"{c.metrics['f1_weighted']:.4f}", f"{c.metrics['f1_macro']:.4f}", f"{c.seconds:.1f}"]
            for c in sorted(final.candidates, key=lambda c: -c.metrics["f1_weighted"])]),
    ]
    return "\n".join(lines) + "\n"
