import numpy as np
import pandas as pd
import pytest

from flipkart_sentiment.serving.reviews import (
    MAX_REVIEWS,
    MAX_TEXT_CHARS,
    InvalidReviews,
    format_predictions,
    parse_reviews,
)


def test_list_of_strings_and_records_are_accepted():
    reviews = parse_reviews(["good", {"title": "Nice", "text": "ok"}, {"text": "bad", "title": None}])
    assert reviews.titles == ["", "Nice", ""]
    assert reviews.texts == ["good", "ok", "bad"]
    assert reviews.frame().to_dict("list") == {"title": ["", "Nice", ""], "text": ["good", "ok", "bad"]}


def test_dataframe_with_text_column_or_single_column():
    assert parse_reviews(pd.DataFrame({"text": ["a"]})).texts == ["a"]
    assert parse_reviews(pd.DataFrame({0: ["a"]})).texts == ["a"]
    assert parse_reviews("just one").texts == ["just one"]


@pytest.mark.parametrize("bad,reason", [
    ([None], "review 0: 'text' is null"),
    ([float("nan")], "review 0: 'text' is null"),
    ([5], "review 0: 'text' must be a string, got int"),
    ([True], "must be a string, got bool"),
    (["  "], "review 0: 'text' is empty"),
    ([{"title": "x"}], "'text' is null"),
    ([{"text": "ok", "title": 3}], "'title' must be a string"),
    ([["nested"]], "got list"),
    ([], "no reviews"),
    (["x" * (MAX_TEXT_CHARS + 1)], "longer than"),
    (["ok"] * (MAX_REVIEWS + 1), f"send at most {MAX_REVIEWS}"),
    (pd.DataFrame({"a": [1], "b": [2]}), "no 'text' field"),
    (42, "unsupported input type int"),
])
def test_bad_input_gets_one_line_reason(bad, reason):
    with pytest.raises(InvalidReviews, match=reason) as err:
        parse_reviews(bad)
    assert "\n" not in str(err.value)


def test_many_problems_are_summarised():
    with pytest.raises(InvalidReviews, match="and 2 more"):
        parse_reviews([None] * 5)


def test_predictions_carry_label_and_all_probabilities():
    out = format_predictions(np.array([[0.1, 0.2, 0.7]]), ["Negative", "Neutral", "Positive"])
    assert out == [{"label": "Positive", "probability": 0.7,
                    "probabilities": {"Negative": 0.1, "Neutral": 0.2, "Positive": 0.7}}]
