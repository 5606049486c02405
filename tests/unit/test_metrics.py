from flipkart_sentiment.core.metrics import classification_scores, selection_key


def test_weighted_and_macro_and_per_class():
    scores = classification_scores(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert scores["accuracy"] == 2 / 3
    assert scores["f1_a"] == 2 / 3 and scores["f1_b"] == 2 / 3
    assert scores["support_a"] == 2
    for key in ("precision_weighted", "recall_weighted", "f1_weighted", "f1_macro"):
        assert 0 <= scores[key] <= 1


def test_weighted_f1_picks_and_macro_breaks_ties():
    a = {"f1_weighted": 0.9, "f1_macro": 0.6}
    b = {"f1_weighted": 0.9, "f1_macro": 0.7}
    c = {"f1_weighted": 0.91, "f1_macro": 0.5}
    assert max([a, b], key=selection_key) is b
    assert max([a, b, c], key=selection_key) is c
