import re

import numpy as np
import pandas as pd
import pytest

from flipkart_sentiment.serving.reviews import (
    MAX_REVIEWS,
    MAX_TEXT_CHARS,
    InvalidReviews,
    format_predictions,
    has_content,
    parse_reviews,
    request_reviews,
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
    ([{"title": "x"}], "review 0: 'text' is missing"),
    ([{"text": None}], "review 0: 'text' is null"),
    (["\u200b"], "review 0: 'text' has no letters, digits or emoji"),
    (["ok", "?!..."], "review 1: 'text' has no letters"),
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


# Every shape: the same reviews, one list for parse_reviews (so every shape gets its checks).
SAME_REVIEWS = [
    {"inputs": ["good", {"title": "Awful", "text": "broke"}]},
    {"instances": ["good", {"title": "Awful", "text": "broke"}]},
    {"dataframe_records": [{"text": "good"}, {"title": "Awful", "text": "broke"}]},
    {"dataframe_records": [{"text": "good", "title": None}, {"text": "broke", "title": "Awful",
                                                           "rating": 1}]},
    {"dataframe_split": {"columns": ["title", "text"], "data": [[None, "good"], ["Awful", "broke"]]}},
    {"dataframe_split": {"index": [4, 9], "columns": ["text", "title", "rating"],
                         "data": [["good", None, 5], ["broke", "Awful", 1]]}},
    {"inputs": ["good", {"title": "Awful", "text": "broke"}], "params": {"unused": 1}, "x": 2},
]


@pytest.mark.parametrize("body", SAME_REVIEWS)
def test_every_request_shape_gives_the_same_reviews(body):
    reviews = parse_reviews(request_reviews(body))
    assert reviews.texts == ["good", "broke"]
    assert reviews.titles == ["", "Awful"]


@pytest.mark.parametrize("body,reason", [
    ([{"inputs": ["a"]}], "the body must be a JSON object, got list"),
    ({}, 'exactly one of "inputs", "dataframe_records", "dataframe_split" or "instances"'),
    ({"reviews": ["a"]}, "got keys ['reviews']"),
    ({"inputs": ["a"], "dataframe_records": [{"text": "a"}]}, "exactly one of"),
    ({"inputs": "a bare string"}, '"inputs" must be a list, got str'),
    ({"instances": {"text": ["a"]}}, '"instances" must be a list, got dict'),
    ({"dataframe_records": {"text": ["a"]}}, '"dataframe_records" must be a list, got dict'),
    ({"dataframe_records": ["a"]}, '"dataframe_records" row 0 must be an object'),
    ({"dataframe_records": [{"text": "a"}, None]}, "row 1 must be an object with 'text' and an "
                                                   "optional 'title', got null"),
    ({"dataframe_split": [["a"]]}, '"dataframe_split" must be an object with "columns" and "data"'),
    ({"dataframe_split": {"data": [["a"]]}}, 'needs "columns" and "data"'),
    ({"dataframe_split": {"columns": ["text"], "data": [["a"]], "dtypes": {}}}, "unknown keys ['dtypes']"),
    ({"dataframe_split": {"columns": "text", "data": [["a"]]}}, '"columns" must be a list, got str'),
    ({"dataframe_split": {"columns": ["text"], "data": {"text": "a"}}}, '"data" must be a list, got dict'),
    ({"dataframe_split": {"columns": ["title", "review"], "data": [["a", "b"]]}},
     "has no 'text' column; got columns ['title', 'review']"),
    ({"dataframe_split": {"columns": [0], "data": [["a"]]}}, "column names must be strings, got int"),
    ({"dataframe_split": {"columns": ["text", "text"], "data": [["a", "b"]]}}, "duplicate columns"),
    ({"dataframe_split": {"columns": ["text"], "data": [["a", "b"]]}},
     "row 0 must be a list of 1 values (one per column), got list of 2"),
    ({"dataframe_split": {"columns": ["text"], "data": ["a"]}}, "row 0 must be a list of 1 values"),
    ({"dataframe_split": {"columns": ["text"], "data": [["a"]], "index": [1, 2]}},
     '"index" must be a list as long as "data"'),
    ({"dataframe_split": {"columns": ["text"], "data": [["a"]] * (MAX_REVIEWS + 1)}},
     f"send at most {MAX_REVIEWS}"),
    ({"dataframe_records": [{"text": "a"}] * (MAX_REVIEWS + 1)}, f"send at most {MAX_REVIEWS}"),
])
def test_a_wrong_shape_gets_a_one_line_reason(body, reason):
    with pytest.raises(InvalidReviews) as err:
        request_reviews(body)
    assert reason in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("body,reason", [
    ({"dataframe_records": [{"title": "only a title"}]}, "review 0: 'text' is missing"),
    ({"dataframe_records": [{"text": 5}]}, "review 0: 'text' must be a string, got int"),
    ({"dataframe_records": [{"text": "ok", "title": ["x"]}]}, "review 0: 'title' must be a string"),
    ({"dataframe_split": {"columns": ["text"], "data": [["ok"], [None]]}}, "review 1: 'text' is null"),
    ({"dataframe_split": {"columns": ["text"], "data": [["ok"], ["..."]]}}, "review 1: 'text' has no"),
    ({"instances": ["ok", " \u200b\ufeff "]}, "review 1: 'text' has no letters"),
    ({"dataframe_split": {"columns": ["text"], "data": []}}, "the request has no reviews"),
])
def test_every_shape_gets_the_same_review_checks(body, reason):
    with pytest.raises(InvalidReviews, match=re.escape(reason)):
        parse_reviews(request_reviews(body))


@pytest.mark.parametrize("text,scored", [
    ("good", True), ("5", True), ("बहुत अच्छा", True), ("👍", True), ("🏸", True), ("₹", False),
    ("!!!", False), ("...?", False), ("\u200b", False), ("\u200b\u200d\ufeff", False),
    ("\ud800", False), ("-_-", False), ("\t\n", False), ("ok\u200b", True),
])
def test_a_review_needs_a_letter_digit_or_emoji(text, scored):
    assert has_content(text) is scored


def test_a_letterless_title_is_fine_the_text_is_what_must_say_something():
    assert parse_reviews([{"title": "!!!", "text": "good"}]).titles == ["!!!"]
