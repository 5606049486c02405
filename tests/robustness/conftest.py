"""Print the fuzz test's status counts in the session summary, so CI logs carry them."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter):
    import sys

    fuzz = sys.modules.get("test_fuzz_serving")
    counts = getattr(fuzz, "STATUS_COUNTS", None)
    if counts:
        terminalreporter.write_sep("-", "fuzzed model server")
        terminalreporter.write_line(
            f"{sum(counts.values())} request bodies; HTTP status counts "
            f"{dict(sorted(counts.items()))}; 5xx: {sum(v for k, v in counts.items() if k >= 500)}")
