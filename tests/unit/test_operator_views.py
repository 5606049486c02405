"""What an operator reads: the training summary artifact, the model cards, run names and the
plots' labels (docs/dashboards.md)."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sentiment_testkit.paths import ROOT

from flipkart_sentiment.adapters import plots
from flipkart_sentiment.adapters.data import ReviewData
from flipkart_sentiment.adapters.registry import Decision
from flipkart_sentiment.config import Settings
from flipkart_sentiment.core.profiles import PROFILES, SEED
from flipkart_sentiment.workflows import model_card
from flipkart_sentiment.workflows.delivery import Delivery
from flipkart_sentiment.workflows.search import Candidate, FinalModel
from flipkart_sentiment.workflows.summary import summary_markdown
from flipkart_sentiment.workflows.training import TrainingResult, run_name

sys.path.insert(0, str(ROOT / "flows"))

SCORES = {"accuracy": 0.9, "precision_weighted": 0.89, "recall_weighted": 0.9,
          "f1_weighted": 0.88, "f1_macro": 0.7, "f1_negative": 0.8, "f1_neutral": 0.35,
          "f1_positive": 0.95}
WINNER = PROFILES["quick"][1]


def data() -> ReviewData:
    frame = pd.DataFrame({"title": ["a", "b", "c"], "text": ["x", "y", "z"], "rating": [5, 3, 1],
                          "label": ["Positive", "Neutral", "Negative"]})
    return ReviewData(frame, "ab" * 32, "/data/reviews.csv", {"rows_read": 3, "rows_used": 3})


def final() -> FinalModel:
    candidates = [Candidate(SEED, "r1", SCORES | {"f1_weighted": 0.85}, 1.5, "m1"),
                  Candidate(WINNER, "r2", SCORES, 2.5, "m2")]
    return FinalModel(WINNER, "r2", "m2", SCORES, SCORES | {"f1_weighted": 0.84}, candidates)


def result(promote: bool = True) -> TrainingResult:
    d = data()
    decision = Decision(promote, "promoted: challenger v3 f1_weighted=0.8800 vs production v2 "
                        "f1_weighted=0.8500", "3", "2", SCORES, SCORES)
    delivered = Delivery("3", "2", "local", rollout_seconds=4.0) if promote else None
    return TrainingResult(d.sha256, d.stats, d.label_counts, "parent123", final(), "3", decision,
                          delivered, {}, run_name(d, "quick"))


def test_the_summary_links_the_run_and_the_version_and_tabulates_the_labels():
    md = summary_markdown(result(), "http://mlflow.example:5000", "flipkart-sentiment")
    assert "[training run](http://mlflow.example:5000/#/runs/parent123)" in md
    assert "(http://mlflow.example:5000/#/models/flipkart-sentiment/versions/3)" in md
    assert "| label | reviews | share |" in md and "| Neutral | 1 | 33.3% |" in md
    assert "{" not in md  # no Python dict printed
    assert "v3 is production now" in md and "rollout: production: version 2 -> 3" in md
    # the winner stands out in the search table, the best first
    search = md[md.index("## Search"):]
    assert search.index(f"**{WINNER.name}**") < search.index(SEED.name)


def test_the_summary_says_when_production_is_unchanged():
    md = summary_markdown(result(promote=False), "http://m", "flipkart-sentiment")
    assert "production unchanged" in md and "rollout:" not in md


def test_run_names_carry_the_date_the_data_version_and_the_profile():
    name = run_name(data(), "quick", datetime(2026, 12, 1, 13, 40, tzinfo=UTC))
    assert name == "2026-12-01 13:40 · data abababab · quick"


def test_the_version_card_has_the_data_the_scores_and_points_at_the_limits():
    card = model_card.version_description(final(), data(), "quick", "the run", "parent123")
    assert WINNER.name in card and "best of 2" in card and "`quick`" in card
    assert "sha256 `abababababababab…`" in card and "Negative 1, Neutral 1, Positive 1" in card
    header = next(line for line in card.splitlines() if line.startswith("| model |"))
    assert header.split(" | ")[1:4] == ["accuracy", "f1_weighted", "f1_macro"]
    assert "f1_neutral" in header
    assert re.search(r"\| this version .*\| 0\.8800 \| 0\.7000 \|", card)
    assert re.search(r"\| seed recipe \(baseline\) .*\| 0\.8400 \|", card)


def test_the_model_card_says_what_it_is_for_and_where_it_stops():
    card = model_card.model_description(Settings())
    assert "Positive (4/5 stars), Neutral (3 stars), Negative (1/2 stars)" in card
    assert "**Intended use**" in card and "**Limits**" in card
    assert "`production` is the one served" in card


def inside(fig, artist) -> bool:
    fig.canvas.draw()
    box, canvas = artist.get_window_extent(), fig.bbox
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= canvas.x1 and box.y1 <= canvas.y1


def test_the_confusion_matrix_names_both_axes_inside_the_figure():
    fig = plots.confusion_matrix_figure(np.array([[5, 1, 0], [1, 3, 1], [0, 1, 9]]),
                                        ["Negative", "Neutral", "Positive"], "a long " * 8)
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("true") and ax.get_xlabel().startswith("predicted")
    assert inside(fig, ax.yaxis.label) and inside(fig, ax.xaxis.label)


@pytest.mark.parametrize("n", [2, 6])
def test_the_comparison_legend_covers_no_bar_or_value(n):
    rows = [{"name": f"candidate-{i}", "best": i == 0, "f1_weighted": 0.99, "f1_macro": 0.98}
            for i in range(n)]
    fig = plots.run_comparison_figure(rows)
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    ax = fig.axes[0]
    values = [t.get_window_extent() for t in ax.texts]
    assert inside(fig, fig.legends[0])
    assert legend.y1 <= ax.get_window_extent().y0  # below the axes, not over the winner's bar
    assert not any(legend.overlaps(v) for v in values)


def test_the_flow_parameters_are_a_form_with_choices():
    """The deployment's parameter schema (Prefect's UI renders it as a form)."""
    from prefect.utilities.callables import parameter_schema
    from train_flow import train_sentiment

    schema = parameter_schema(train_sentiment).model_dump()
    search = schema["properties"]["search"]
    choices = [option.get("enum") for option in search.get("anyOf", [search])]
    assert ["full", "quick", "seed", "families"] in choices, search
    assert "search profile" in search.get("description", "").lower()
    assert "reviews CSV" in schema["properties"]["data_path"].get("description", "")


def test_no_labeled_reviews_leave_the_data_as_it_is(tmp_path, caplog):
    from flipkart_sentiment.workflows import training

    caplog.set_level("INFO", "flipkart_sentiment")
    d = data()
    assert training.add_labeled(d, [str(tmp_path)], Settings().label_map) is d
    assert "no newly labeled reviews" in caplog.text
