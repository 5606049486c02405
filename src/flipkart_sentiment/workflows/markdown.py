"""Markdown tables, as the summary artifact and the model cards show them."""

from __future__ import annotations

from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> list[str]:
    """The table's lines; columns from `numeric_from` on are right-aligned (numbers)."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    return ["| " + " | ".join(r) + " |" for r in (header, align, *rows)]
