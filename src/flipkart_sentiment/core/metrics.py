"""Classification metrics and the rule that picks the best run."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def classification_scores(y_true: Sequence[str], y_pred: Sequence[str],
                          labels: Sequence[str]) -> dict[str, float]:
    """Accuracy, weighted and macro precision/recall/F1, and per-class scores."""
    metrics: dict[str, float] = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("weighted", "macro"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=list(labels), average=average, zero_division=0
        )
        metrics |= {f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f}
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, labels=list(labels), average=None, zero_division=0
    )
    for i, label in enumerate(labels):
        key = label.lower()
        metrics |= {
            f"precision_{key}": p[i], f"recall_{key}": r[i], f"f1_{key}": f[i],
            f"support_{key}": s[i],
        }
    return {k: float(v) for k, v in metrics.items()}


def selection_key(metrics: dict[str, float]) -> tuple[float, float]:
    """Best run = highest weighted F1; macro F1 breaks ties (it rewards the rare Neutral class)."""
    return (round(metrics["f1_weighted"], 6), round(metrics["f1_macro"], 6))


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]):
    return confusion_matrix(y_true, y_pred, labels=list(labels))
