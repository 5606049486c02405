"""Review text processing: cleaning, tokenization and cached Porter stemming.

Nothing here downloads NLTK data: the tokenizer is a regular expression, the stop list is
scikit-learn's English list minus the words that carry sentiment, and NLTK's PorterStemmer is
pure code.
"""

from __future__ import annotations

import re
from functools import lru_cache

from nltk.stem import PorterStemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# Negations and intensifiers flip or scale sentiment ("not good", "too bad"), so they must
# survive stop-word removal.
KEEP_WORDS = frozenset(
    {
        "no", "not", "nor", "never", "none", "nothing", "nobody", "nowhere", "neither",
        "cannot", "cant", "without", "against", "but", "however", "very", "too", "much",
        "more", "most", "less", "least", "only", "again", "off", "down", "up", "well",
        "enough", "few", "fire", "bottom", "top",
    }
)
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS - KEEP_WORDS)

# Emoji carry much of the sentiment in short reviews; map the common ones to two tokens the
# model can learn instead of dropping them.
_POSITIVE_EMOJI = "😀😁😂😃😄😅😆😉😊😋😍😎😘🙂🤗🤩🥰🥳👍👌👏💪💯💖💗💓💕❤♥🔥⭐🌟✨🏆✌🙏😇☺"
_NEGATIVE_EMOJI = "😞😟😠😡😢😣😤😥😦😧😨😩😫😭😰😱😒😓😔😕😖🙁☹🤬🤮🤢👎💔🥲😑😐🤦"
EMOJI_TOKENS = {**dict.fromkeys(_POSITIVE_EMOJI, " emojipos "), **dict.fromkeys(_NEGATIVE_EMOJI, " emojineg ")}
_EMOJI_TABLE = str.maketrans(EMOJI_TOKENS)

# Hinglish and chat spellings that are frequent in Flipkart reviews. Mapping them to the
# English word lets the few examples of each share weight with the many English ones.
SLANG = {
    "nyc": "nice", "nic": "nice", "nce": "nice", "gud": "good", "gd": "good", "gudd": "good",
    "awsm": "awesome", "awsome": "awesome", "osm": "awesome", "osam": "awesome", "owsm": "awesome",
    "supb": "superb", "suprb": "superb", "gr8": "great", "grt": "great", "thnx": "thanks",
    "thnks": "thanks", "tq": "thanks", "wrst": "worst", "worest": "worst", "bakwas": "worst",
    "bakwaas": "worst", "bekar": "bad", "bekaar": "bad", "kharab": "bad", "ghatiya": "worst",
    "faltu": "useless", "accha": "good", "acha": "good", "achha": "good", "achchha": "good",
    "badhiya": "good", "badiya": "good", "mast": "great", "zabardast": "great", "jabardast": "great",
    "vasool": "worth", "wasool": "worth", "prdct": "product", "prod": "product", "qlty": "quality",
    "dnt": "dont", "nt": "not", "nope": "no", "dupe": "fake", "duplicate": "fake",
}

_READ_MORE = re.compile(r"read\s*more\s*$", re.IGNORECASE)
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
# "GoodREAD", "productQuality": a case change inside a word marks two run-together words.
_CASE_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NEGATION_SUFFIX = re.compile(r"n['’]t\b")
_TOKEN = re.compile(r"[a-z]+|\d+")
_REPEATS = re.compile(r"(\w)\1{2,}")

_stemmer = PorterStemmer()


def clean(text: object) -> str:
    """Normalise one review (or title) to lower-case words separated by single spaces."""
    if not isinstance(text, str):
        return ""
    text = _READ_MORE.sub("", text.strip())
    text = _URL.sub(" ", text)
    text = text.translate(_EMOJI_TABLE)
    text = _CASE_BOUNDARY.sub(" ", text)
    text = _NEGATION_SUFFIX.sub(" not", text.lower())
    # "soooo goooood" -> "soo good"-ish: three or more repeats collapse to two.
    text = _REPEATS.sub(r"\1\1", text)
    return " ".join(_TOKEN.findall(text))


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """Porter stem with a cache: review vocabularies are small and very repetitive."""
    return _stemmer.stem(SLANG.get(word, word))


def tokenize(cleaned: str) -> list[str]:
    """Split cleaned text, drop stop words, map slang and stem."""
    return [stem(w) for w in cleaned.split() if w not in STOP_WORDS]


def analyze(text: object) -> list[str]:
    """Clean + tokenize in one call (the TF-IDF vectorizers use clean and tokenize separately)."""
    return tokenize(clean(text))


def preprocessing_description() -> dict[str, str]:
    """What the text pipeline does, for MLflow params and registry tags."""
    return {
        "cleaning": "strip READ MORE, urls, emoji->emojipos/emojineg, split case-joined words, n't->not",
        "tokenizer": "regex [a-z]+|\\d+ (no NLTK data)",
        "stop_words": f"sklearn english minus {len(KEEP_WORDS)} negations/intensifiers",
        "slang_map_size": str(len(SLANG)),
        "stemmer": "nltk PorterStemmer (lru cache 100k)",
    }
