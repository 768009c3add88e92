"""Problems found while validating: each names the item and the field.

The model knows nothing of files; the apply layer adds the file and position
when it turns these into the one-line messages that operators read.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Any

SHOWN_MAX = 80  # characters of a value quoted in a message


def shown(value: Any, limit: int = SHOWN_MAX) -> str:
    """A value as a message quotes it: ``repr`` (control characters escaped), capped.

    Messages are one line each and operators read them; a value with a newline must not
    split its line, and a megabyte value must not become a megabyte line.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[:limit]}...{size}"


def plain(text: str, limit: int = 64) -> str:
    """A name as a message writes it: bare when it is short and printable, else ``shown``."""
    if len(text) <= limit and text.isprintable() and text.strip() == text:
        return text
    return shown(text, limit)


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, as a message names it ("a FIFO")."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one field of one item."""

    kind: str  # collection name: networks, subnets, ports, ...
    key: str  # the item's id (or name when it has no id yet)
    field: str  # the field as written in the OpenStack vocabulary
    message: str
    # Other items the message names, as (kind, id): lets a caller say where they are
    # written, and tell a problem of its own from a consequence of another.
    refs: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.field}: {self.message}"


class FieldError(ValueError):
    """A single field of an item is invalid; raised by the checks in this package."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidItem(ValueError):
    """An item could not be built because one or more of its fields are invalid."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


class ValidationError(ValueError):
    """A whole set of items is inconsistent; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
