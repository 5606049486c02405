"""Fuzz the real `mlflow models serve` with generated request bodies.

Every body must get an answer below 500 with no Python stack trace in it. The counts per status
code are printed (run with -s to see them, and in the session summary) so the report can quote
them. Besides generated JSON, bytes and each request shape with odd contents, the bodies include
what Python's json module gets wrong or fails on: numbers past the int-string limit, 1e999,
deep nesting, duplicate keys, a UTF-8 byte-order mark and lone surrogate escapes.
"""

from __future__ import annotations

import collections
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.serving

EXAMPLES = 10_000
STATUS_COUNTS: collections.Counter = collections.Counter()

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children,
                                                                      max_size=5),
    max_leaves=20,
)
review = st.text(max_size=200) | st.sampled_from(["good", "bakwas product", "😡", "", " "])
record = st.fixed_dictionaries({}, optional={"text": review | scalars, "title": review | scalars,
                                             "extra": json_values})
inputs = st.lists(review | record | json_values, max_size=6) | json_values
keys = st.sampled_from(["inputs", "instances", "dataframe_records", "dataframe_split", "params",
                        "reviews"])
columns = st.lists(st.sampled_from(["text", "title", "rating"]) | json_values, max_size=4)
rows = st.lists(st.lists(review | scalars, max_size=4) | json_values, max_size=5)
split = st.fixed_dictionaries({}, optional={"columns": columns, "data": rows, "index": json_values,
                                            "dtypes": json_values})
shaped = st.one_of(
    st.fixed_dictionaries({"dataframe_split": split | json_values}),
    st.fixed_dictionaries({"dataframe_records": st.lists(record | json_values, max_size=6)
                           | json_values}),
    st.fixed_dictionaries({"instances": inputs}),
    st.fixed_dictionaries({"inputs": inputs}, optional={"params": json_values}),
    st.dictionaries(keys, inputs | split, min_size=2, max_size=4),  # several shapes at once
)
# JSON text json.dumps never writes: each is spliced into an envelope of some shape.
big_numbers = st.sampled_from([
    "7" * 5_000, "-" + "9" * 5_000, "1" * 50_000, "1e999", "-1e999", "1e-999", "1" * 5_000 + ".5",
    "1E" + "9" * 40, "0." + "0" * 10_000 + "1", "NaN", "Infinity", "-Infinity", "4300" * 1_076,
])
odd_strings = st.sampled_from([
    '"\\ud800"', '"\\udfff"', '"good \\ud83d"', '"\\udc00\\ud800"', '"\\u0000"',
    '"\\u200b"', '"\\ufeff"', '"!!!"', '" \\u200b\\u200d "', '"\\ud83d\\udc4d"',
])
envelopes = st.sampled_from([
    '{"inputs": [%s]}', '{"instances": [%s]}', '{"dataframe_records": [{"text": %s}]}',
    '{"dataframe_records": [{"text": "ok", "title": %s}]}', '{"inputs": [{"text": "ok", %s: 1}]}',
    '{"dataframe_split": {"columns": ["text"], "data": [[%s]]}}',
    '{"dataframe_split": {"columns": [%s], "data": [["ok"]]}}',
    '{"dataframe_split": {"columns": ["text"], "data": [["ok"]], "index": [%s]}}',
    '{"inputs": ["ok"], "params": {"k": %s}}', '{%s: ["ok"]}', '[%s]', '%s',
])


@st.composite
def bodies(draw) -> tuple[bytes, str]:
    kind = draw(st.integers(0, 15))
    if kind <= 3:  # well-formed JSON envelopes with odd contents
        body = json.dumps({draw(keys): draw(inputs)}).encode()
    elif kind == 4:  # each request shape, with wrong types and missing columns
        body = json.dumps(draw(shaped)).encode()
    elif kind in (10, 11):  # numbers past Python's limits, lone surrogates, invisible text
        envelope = draw(envelopes)
        value = draw(big_numbers | odd_strings) if "%s:" not in envelope and "{%s" not in envelope \
            else draw(odd_strings)
        body = (envelope % value).encode()
    elif kind == 12:  # duplicate keys, at the top or in a record
        body = draw(st.sampled_from([
            b'{"inputs": ["a"], "inputs": ["b"]}', b'{"inputs": ["a"], "params": {}, "params": 1}',
            b'{"dataframe_records": [{"text": "a", "text": 5}]}',
            b'{"dataframe_split": {"columns": ["text"], "columns": ["title"], "data": [["a"]]}}',
            b'{"inputs": [{"text": "a", "title": "b", "title": null}]}']))
    elif kind == 13:  # a UTF-8 byte-order mark (or two) before the JSON
        body = b"\xef\xbb\xbf" * draw(st.integers(1, 2)) + json.dumps(draw(shaped)).encode()
    elif kind == 14:  # deep nesting of objects, or of lists inside each shape
        depth = draw(st.integers(500, 120_000))
        body = draw(st.sampled_from([
            b'{"inputs": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}",
            b'{"dataframe_split": {"columns": ["text"], "data": ' + b"[" * depth + b"]" * depth + b"}}",
            b'{"dataframe_records": [{"text": ' + b"[" * depth + b"]" * depth + b"}]}",
        ]))
    elif kind == 15:  # letterless reviews in every shape
        text = draw(st.text(st.sampled_from(" \t\n.,!?-_*\u200b\u200c\u200d\ufeff\u2060"), max_size=8))
        body = json.dumps(draw(st.sampled_from([
            {"inputs": [text]}, {"instances": [{"text": text}]},
            {"dataframe_records": [{"title": "Nice", "text": text}]},
            {"dataframe_split": {"columns": ["text"], "data": [[text]]}}]))).encode()
    elif kind == 5:  # any JSON document
        body = json.dumps(draw(json_values)).encode()
    elif kind == 6:  # raw bytes, often not UTF-8
        body = draw(st.binary(max_size=300))
    elif kind == 7:  # deep nesting
        depth = draw(st.integers(100, 200_000))
        body = b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"
    elif kind == 8:  # huge strings
        size = draw(st.integers(10_000, 2_000_000))
        body = json.dumps({"inputs": ["good " * (size // 5)]}).encode()
    else:  # truncated JSON
        whole = json.dumps({"inputs": draw(inputs)}).encode()
        body = whole[: draw(st.integers(0, max(len(whole) - 1, 0)))]
    content_type = draw(st.sampled_from([
        "application/json", "application/json", "application/json", "text/csv", "text/plain",
        "application/json; charset=latin-1", "application/octet-stream", "",
        "application/json; format=pandas-records",
    ]))
    return body, content_type


@pytest.fixture(scope="module")
def http(model_server):
    with httpx.Client(base_url=model_server["url"], timeout=60) as client:
        yield client
    print(f"\nfuzzed {sum(STATUS_COUNTS.values())} bodies; status counts: "
          f"{dict(sorted(STATUS_COUNTS.items()))}")


# Each named case once, whatever the generator draws: what json.loads fails on or gets wrong,
# with the status it gets. MLflow's own parsing answers 500 to the long integers and 200 to the
# duplicate keys and to dataframe_* bodies: these statuses show the server runs the project's.
NAMED_BODIES = {
    "5,000-digit integer": (b'{"inputs": [' + b"7" * 5_000 + b"]}", 400),
    "50,000-digit integer": (b'{"inputs": [-' + b"1" * 50_000 + b"]}", 400),
    "50,000-digit integer in params": (b'{"inputs": ["ok"], "params": {"k": ' + b"1" * 50_000 + b"}}", 400),
    "1e999": (b'{"inputs": [1e999, -1e999, 1e-999]}', 400),
    "huge exponent": (b'{"dataframe_split": {"columns": ["text"], "data": [[1E999999999999]]}}', 400),
    "100k nested lists": (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
    "100k nested objects": (b'{"inputs": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}", 400),
    "duplicate top-level key": (b'{"inputs": ["a"], "inputs": ["b"]}', 400),
    "duplicate record key": (b'{"dataframe_records": [{"text": "a", "text": "b"}]}', 400),
    "byte-order mark": (b'\xef\xbb\xbf{"inputs": ["good"]}', 200),
    "lone surrogate text": (b'{"inputs": ["\\ud800"]}', 400),
    "lone surrogate in a review": (b'{"inputs": ["good \\udfff", {"title": "\\ud800", "text": "ok"}]}', 200),
    "lone surrogate key": (b'{"\\ud800": ["a"]}', 400),
    "lone surrogate column": (b'{"dataframe_split": {"columns": ["\\ud800"], "data": [["a"]]}}', 400),
    "zero-width text": ('{"dataframe_records": [{"text": "\u200b\u200b"}]}'.encode(), 400),
    "split with a dict for data": (b'{"dataframe_split": {"columns": ["text"], "data": {"0": "a"}}}', 400),
    "records of lists": (b'{"dataframe_records": [["text", "a"]]}', 400),
    "instances of numbers": (b'{"instances": [1, 2.5, true]}', 400),
}


@pytest.mark.parametrize("body,status", list(NAMED_BODIES.values()), ids=list(NAMED_BODIES))
def test_named_bodies_get_their_status_and_never_a_5xx(http, body, status):
    response = http.post("/invocations", content=body, headers={"Content-Type": "application/json"})
    STATUS_COUNTS[response.status_code] += 1
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert "Traceback" not in response.text and "stack_trace" not in response.text
    if response.status_code == 400:
        assert "\n" not in response.json()["message"]


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=bodies())
def test_no_body_gets_a_5xx_or_a_stack_trace(http, case):
    body, content_type = case
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post("/invocations", content=body, headers=headers)
    STATUS_COUNTS[response.status_code] += 1
    assert response.status_code < 500, (response.status_code, body[:200], response.text[:500])
    assert "Traceback" not in response.text and "stack_trace" not in response.text, \
        response.text[:500]


def test_the_fuzz_ran_the_promised_number_of_bodies():
    # Ordering: pytest runs this after the fuzz test in the same module.
    assert sum(STATUS_COUNTS.values()) >= EXAMPLES
