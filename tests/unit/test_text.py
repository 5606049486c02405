from hypothesis import given, settings
from hypothesis import strategies as st

from flipkart_sentiment.core.text import (
    KEEP_WORDS,
    STOP_WORDS,
    analyze,
    clean,
    clean_clauses,
    stem,
    strip_clause_marks,
    tokenize,
    tokenize_negated,
)


def test_read_more_artefact_is_removed_even_when_glued_to_the_last_word():
    assert clean("GoodREAD MORE") == "good"
    assert clean("good productread more") == "good product"
    assert clean("Nice.READ MORE") == "nice"


def test_urls_are_dropped_and_punctuation_splits_run_together_sentences():
    assert clean("see https://flipkart.com/x?y=1 now.Good shuttle") == "see now good shuttle"


def test_case_boundaries_split_words_that_were_run_together():
    assert clean("goodProduct") == "good product"


def test_emoji_become_sentiment_tokens():
    assert clean("👍👍") == "emojipos emojipos"
    assert clean("fake 😡") == "fake emojineg"


def test_contracted_negations_are_expanded():
    assert clean("didn't like it, isn’t good") == "did not like it is not good"


def test_stop_list_keeps_negations_and_intensifiers():
    assert {"not", "no", "never", "very", "too"} <= KEEP_WORDS
    assert not KEEP_WORDS & STOP_WORDS
    assert "the" in STOP_WORDS
    assert tokenize("not a good product") == ["not", "good", "product"]


def test_slang_is_normalised_before_stemming():
    assert analyze("nyc awsm gud") == ["nice", "awesom", "good"]


def test_porter_stemming_is_cached():
    stem.cache_clear()
    stem("delivered")
    stem("delivered")
    info = stem.cache_info()
    assert stem("delivered") == "deliv"
    assert info.hits >= 1 and info.currsize == 1


def test_bounded_cache_keeps_long_keys_out():
    from flipkart_sentiment.core.text import bounded_cache

    calls = []

    @bounded_cache(maxsize=10, max_key_chars=5)
    def upper(key: str) -> str:
        calls.append(key)
        return key.upper()

    assert [upper("abc"), upper("abc"), upper("abcdefgh"), upper("abcdefgh")] == \
        ["ABC", "ABC", "ABCDEFGH", "ABCDEFGH"]
    assert calls == ["abc", "abcdefgh", "abcdefgh"]  # the short key once, the long one each time
    assert upper.cache_info().currsize == 1
    before = stem.cache_info().currsize
    assert stem("ab" * 50) == stem.__wrapped__("ab" * 50)
    assert stem.cache_info().currsize == before


def test_non_strings_clean_to_empty():
    assert clean(None) == ""
    assert clean(float("nan")) == ""
    assert analyze(5) == []


def _clean_unguarded(text: object) -> str:
    """clean() as the plain chain of substitutions, before each step got its cheap guard."""
    import re

    from flipkart_sentiment.core import text as t

    if not isinstance(text, str):
        return ""
    text = t._READ_MORE.sub("", text.strip())
    text = t._URL.sub(" ", text)
    text = text.translate(t._EMOJI_TABLE)
    text = t._CASE_BOUNDARY.sub(" ", text)
    text = t._NEGATION_SUFFIX.sub(" not", text.lower())
    text = re.sub(r"(\w)\1{2,}", r"\1\1", text)
    return " ".join(t._TOKEN.findall(text))


def test_guarded_clean_equals_the_plain_chain_on_the_data(data_path):
    import pandas as pd

    frame = pd.read_csv(data_path)
    for value in pd.concat([frame["Review text"], frame["Review Title"]]).tolist():
        assert clean(value) == _clean_unguarded(value), repr(value)
        assert strip_clause_marks(clean_clauses(value)) == clean(value), repr(value)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(
    list("aeEmMoOrRdD .:/wW'’tnT\t\nxyz😀👍🏸İK") + ["READ MORE", "read more", "http://", "www.", "n't"]
)).map("".join))
def test_guarded_clean_equals_the_plain_chain_on_generated_text(value):
    assert clean(value) == _clean_unguarded(value)
    # clause marks are extra tokens and nothing else: without them it is clean(), and the
    # plain tokenizer (no negation scope) gives the same tokens from either
    assert strip_clause_marks(clean_clauses(value)) == clean(value)
    assert tokenize(clean_clauses(value)) == tokenize(clean(value))


def test_negation_scope_ends_at_the_clause():
    assert clean_clauses("Doesn't break easily, good quality!") == "does not break easily , good quality !"
    assert tokenize_negated(clean_clauses("Doesn't break easily, good quality")) == [
        "doe", "not", "not_break", "not_easili", "good", "qualiti"]
    assert tokenize_negated(clean_clauses("not good at all")) == ["not", "not_good"]
    assert tokenize_negated(clean_clauses("not cheap but good")) == ["not", "not_cheap", "but", "good"]
