"""Collects every field error of one item before raising, so a file gets all its lines at once.

Text fields get one rule on every backend, after Neutron's and Nova's API limits: names,
ids, hosts and the like at most 255 characters (the width of their store columns on both
SQLite, which would take anything, and PostgreSQL, which would refuse the row half-way
through a write), and no control characters, which no real API accepts in them and which
would break the one-line messages, tables and documents they end up in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from guestmeta.model.errors import FieldError, InvalidItem, shown

T = TypeVar("T")

TEXT_MAX = 255  # Neutron's and Nova's name, id, host, project and device fields
ADDRESS_MAX = 64  # an address column: the longest IPv6 text form is 45
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def text_problem(value: str, limit: int = TEXT_MAX) -> str | None:
    """Why ``value`` may not be stored in a name, id or host field, or None."""
    if len(value) > limit:
        return f"{shown(value, 40)} is over {limit} characters"
    if _CONTROL.search(value):
        return f"{shown(value)} contains a control character"
    return None


class Checker:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def check(self, field: str, ok: bool, message: str) -> None:
        if not ok:
            self.errors.append(FieldError(field, message))

    def text(self, field: str, value: str | None, limit: int = TEXT_MAX) -> None:
        """A name, id or host field: at most ``limit`` characters, no control characters."""
        if value is not None:
            problem = text_problem(value, limit)
            if problem is not None:
                self.errors.append(FieldError(field, problem))

    def parse(self, field: str, func: Callable[[str], T], value: str) -> T | None:
        try:
            return func(value)
        except ValueError as exc:
            self.errors.append(FieldError(field, str(exc)))
            return None

    def done(self) -> None:
        if self.errors:
            raise InvalidItem(self.errors)
