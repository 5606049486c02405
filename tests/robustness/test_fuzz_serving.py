"""Fuzz the real `mlflow models serve` with generated request bodies.

Every body must get an answer below 500 with no Python stack trace in it. The counts per status
code are printed (run with -s to see them) so the report can quote them.
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


@st.composite
def bodies(draw) -> tuple[bytes, str]:
    kind = draw(st.integers(0, 9))
    if kind <= 4:  # well-formed JSON envelopes with odd contents
        body = json.dumps({draw(keys): draw(inputs)}).encode()
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
