"""Figures logged to MLflow: confusion matrix, reliability diagram, the search's run comparison,
the CheckList pass rates, and monitoring's label mix and confidence comparisons."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # servers and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..core.calibration import Reliability  # noqa: E402


def confusion_matrix_figure(matrix: np.ndarray, labels: Sequence[str], title: str):
    # aspect "auto" and constrained layout: with the square aspect of an image the layout left the
    # y label outside the figure
    fig, ax = plt.subplots(figsize=(5.4, 4.4), dpi=120, layout="constrained")
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xticklabels=labels,
           yticklabels=labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label (rows sum to 100 %)")
    ax.set_title(title, fontsize=9)
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if normalised[i, j] > 0.5 else "black"
            ax.text(j, i, f"{matrix[i, j]}\n{normalised[i, j]:.0%}", ha="center", va="center",
                    color=colour, fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class")
    return fig


def reliability_figure(overall: Reliability, classes: dict[str, Reliability], title: str):
    """Reliability diagram: observed frequency against mean predicted probability per bin, for the
    top label (left, with the share of reviews per bin as bars) and each class one-vs-rest
    (right). On the diagonal the probabilities mean what they say."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.4), dpi=120, layout="constrained")
    edges = overall.edges
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    share = overall.counts / max(overall.counts.sum(), 1)
    left.bar(centres, share, width=width * 0.9, color="lightgrey", label="share of reviews")
    filled = overall.counts > 0
    left.plot(overall.predicted[filled], overall.observed[filled], "o-", color="C0",
              label=f"top label (ECE {overall.ece:.3f})")
    for k, (name, curve) in enumerate(classes.items()):
        used = curve.counts > 0
        right.plot(curve.predicted[used], curve.observed[used], "o-", color=f"C{k + 1}",
                   label=f"{name} (ECE {curve.ece:.3f})")
    for ax, xlabel, ylabel in ((left, "confidence (highest probability)", "accuracy"),
                               (right, "predicted probability of the class", "frequency of the class")):
        ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1, label="perfect calibration")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel)
        ax.legend(fontsize=7, loc="upper left")
    left.set_title("top label", fontsize=9)
    right.set_title("per class, one-vs-rest", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def run_comparison_figure(rows: Sequence[dict], metrics=("f1_weighted", "f1_macro")):
    """Horizontal bars per candidate, one colour per metric; the chosen run is starred."""
    names = [("★ " if r.get("best") else "") + r["name"] for r in rows]
    y = np.arange(len(rows))
    height = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.9), dpi=120, layout="constrained")
    for k, metric in enumerate(metrics):
        values = [r[metric] for r in rows]
        ax.barh(y + k * height, values, height=height, label=f"cv {metric}")
        for yi, v in zip(y, values, strict=True):
            ax.text(v + 0.003, yi + k * height, f"{v:.3f}", va="center", fontsize=7)
    ax.set_yticks(y + height * (len(metrics) - 1) / 2, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    ax.set_xlabel("cross-validated score (★ the chosen candidate: best f1_weighted)")
    ax.set_title("Search: candidates compared")
    # Outside the axes: inside, it covered the values at the end of the longest bars, the winner's.
    fig.legend(loc="outside lower center", ncol=len(metrics), fontsize=8)
    return fig


def pass_rate_figure(capabilities: Sequence[str], rates: dict[str, Sequence[float]],
                     capability_target: float, overall_target: float):
    """CheckList pass rate per capability (and overall, the last value), one bar per model."""
    names = [*capabilities, "overall"]
    y = np.arange(len(names))
    height = 0.8 / len(rates)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 2.2), dpi=120)
    for k, (model, values) in enumerate(rates.items()):
        ax.barh(y + k * height, values, height=height, label=model)
        for yi, v in zip(y, values, strict=True):
            ax.text(v + 0.01, yi + k * height, f"{v:.0%}", va="center", fontsize=7)
    ax.axvline(capability_target, color="grey", ls=":", lw=1,
               label=f"capability target {capability_target:.0%}")
    ax.axvline(overall_target, color="grey", ls="--", lw=1, label=f"overall target {overall_target:.0%}")
    ax.set_yticks(y + height * (len(rates) - 1) / 2, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("pass rate")
    ax.set_title("CheckList: pass rate per capability")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=7)
    fig.tight_layout()
    return fig


def label_mix_figure(mixes: dict[str, dict[str, int]], labels: Sequence[str]):
    """Share of each label per named distribution (reference and live, true and predicted)."""
    x = np.arange(len(labels))
    width = 0.8 / max(len(mixes), 1)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for k, (name, counts) in enumerate(mixes.items()):
        total = max(sum(counts.values()), 1)
        shares = [counts.get(label, 0) / total for label in labels]
        ax.bar(x + k * width, shares, width=width, label=f"{name} (n={sum(counts.values())})")
    ax.set_xticks(x + width * (len(mixes) - 1) / 2, labels)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share of reviews")
    ax.set_title("Label mix: training reference vs recent reviews")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def confidence_figure(reference: Sequence[float], live: Sequence[float], statistic: float):
    """Histograms of the model's top probability, held-out test split vs recent predictions."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    bins = np.linspace(0, 1, 21)
    ax.hist(reference, bins=bins, density=True, alpha=0.5, label=f"held-out test (n={len(reference)})")
    ax.hist(live, bins=bins, density=True, alpha=0.5, label=f"recent (n={len(live)})")
    ax.set_xlabel("top class probability")
    ax.set_ylabel("density")
    ax.set_title(f"Confidence: Kolmogorov-Smirnov statistic {statistic:.3f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(fig, path) -> None:
    fig.savefig(path)
    plt.close(fig)
