"""How an apply or an edit says no: every problem, one line each."""

from __future__ import annotations


class ApplyError(ValueError):
    """Every problem of an apply, one line each, naming file, item and field."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
