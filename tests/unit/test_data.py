import hashlib

import pytest

from flipkart_sentiment.adapters.data import DataValidationError, from_bytes, label_for, load_reviews
from flipkart_sentiment.config import Settings


def csv(text: str) -> bytes:
    return text.encode()


def test_the_real_file_loads_with_counts_and_version(data_path):
    data = load_reviews(str(data_path))
    assert data.sha256 == hashlib.sha256(data_path.read_bytes()).hexdigest()
    assert data.stats["rows_read"] == 8518
    assert data.stats["dropped_empty_text"] == 8
    assert data.stats["rows_used"] == len(data.frame) == 8510
    assert set(data.frame.columns) == {"title", "text", "rating", "label"}
    assert data.label_counts["Neutral"] == 615


@pytest.mark.parametrize("text_col,rating_col", [
    ("Review_Text", "Reviewer_Rating"), ("review_text", "reviewer_rating"),
    ("Review text", "Ratings"), ("text", "rating"),
])
def test_other_column_spellings_are_accepted(text_col, rating_col):
    data = from_bytes(csv(f"{text_col},{rating_col}\ngreat,5\nbad,1\n"), "x.csv")
    assert data.frame["label"].tolist() == ["Positive", "Negative"]


def test_missing_columns_error_names_what_was_found():
    with pytest.raises(DataValidationError) as err:
        from_bytes(csv("body,stars_given\ngreat,5\n"), "x.csv")
    message = str(err.value)
    assert "no review text and no rating column" in message
    assert "'body'" in message and "'stars_given'" in message


def test_empty_file():
    with pytest.raises(DataValidationError, match="empty"):
        from_bytes(b"", "empty.csv")


def test_header_only():
    with pytest.raises(DataValidationError, match="no rows"):
        from_bytes(csv("Review text,Ratings\n"), "h.csv")


def test_non_utf8_file_names_the_byte():
    with pytest.raises(DataValidationError, match="not UTF-8 .*0xe9"):
        from_bytes("Review text,Ratings\ncaf\xe9,5\n".encode("latin-1"), "l1.csv")


def test_malformed_csv():
    with pytest.raises(DataValidationError, match="malformed CSV"):
        from_bytes(csv('Review text,Ratings\n"unclosed,5\nok,4,extra,fields\n'), "bad.csv")


def test_rating_out_of_range_fails_and_names_it():
    with pytest.raises(DataValidationError, match=r"outside \[1, 2, 3, 4, 5\], e.g. 7 on data row 2"):
        from_bytes(csv("Review text,Ratings\ngood,5\nodd,7\n"), "r.csv")


def test_non_numeric_rating_fails():
    with pytest.raises(DataValidationError, match="non-numeric.*'five'"):
        from_bytes(csv("Review text,Ratings\ngood,five\n"), "r.csv")


def test_empty_texts_and_missing_ratings_are_dropped_and_counted():
    data = from_bytes(csv("Review text,Ratings\ngood,5\n,4\n  ,3\nbad,\nawful,1\n"), "d.csv")
    assert data.stats == {"rows_read": 5, "dropped_missing_rating": 1, "dropped_empty_text": 2,
                          "dropped_unscorable_text": 0, "rows_used": 2, "duplicate_texts": 0}


def test_texts_the_model_server_refuses_are_dropped_and_counted():
    """The gate scores production through the served pyfunc: a test row it refuses (no letters,
    digits or emoji; a field past MAX_TEXT_CHARS) would stop the gate (seen at x100)."""
    long = "a" * 20_001
    data = from_bytes(csv(f"Review text,Review Title,Ratings\ngood,,5\n...,,4\n\u200b!,,3\n"
                          f"{long},,2\nfine,{long},1\n\U0001F44D,,5\n\u00e9t\u00e9,,1\n"), "u.csv")
    assert data.stats["dropped_unscorable_text"] == 4
    assert data.frame["text"].tolist() == ["good", "\U0001F44D", "\u00e9t\u00e9"]


def test_all_empty_texts_fail():
    with pytest.raises(DataValidationError, match="no usable rows: 2 empty review text"):
        from_bytes(csv("Review text,Ratings\n,5\n ,4\n"), "e.csv")


def test_a_single_class_cannot_be_trained():
    with pytest.raises(DataValidationError, match="at least two classes"):
        from_bytes(csv("Review text,Ratings\ngood,5\nnice,4\n"), "one.csv")


def test_missing_file_says_where_data_lives():
    with pytest.raises(DataValidationError, match="shared/data"):
        load_reviews("/nonexistent/reviews.csv")


def test_labels_from_ratings_default_and_configurable(monkeypatch):
    assert [label_for(r) for r in (1, 2, 3, 4, 5)] == [
        "Negative", "Negative", "Neutral", "Positive", "Positive"]
    monkeypatch.setenv("SENTIMENT_LABEL_MAP", "1:neg,2:neg,3:neg,4:pos,5:pos")
    mapping = Settings().label_map
    assert mapping == {1: "neg", 2: "neg", 3: "neg", 4: "pos", 5: "pos"}
    data = from_bytes(csv("Review text,Ratings\nok,3\ngreat,5\n"), "m.csv", mapping)
    assert data.frame["label"].tolist() == ["neg", "pos"]


def test_bad_label_map_is_a_clear_settings_error(monkeypatch):
    monkeypatch.setenv("SENTIMENT_LABEL_MAP", "one:neg")
    with pytest.raises(ValueError, match="SENTIMENT_LABEL_MAP must look like"):
        Settings()
