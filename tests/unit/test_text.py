from flipkart_sentiment.text import KEEP_WORDS, STOP_WORDS, analyze, clean, stem, tokenize


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


def test_non_strings_clean_to_empty():
    assert clean(None) == ""
    assert clean(float("nan")) == ""
    assert analyze(5) == []
