"""Collects every field error of one item before raising, so a file gets all its lines at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from guestmeta.model.errors import FieldError, InvalidItem

T = TypeVar("T")


class Checker:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def check(self, field: str, ok: bool, message: str) -> None:
        if not ok:
            self.errors.append(FieldError(field, message))

    def parse(self, field: str, func: Callable[[str], T], value: str) -> T | None:
        try:
            return func(value)
        except ValueError as exc:
            self.errors.append(FieldError(field, str(exc)))
            return None

    def done(self) -> None:
        if self.errors:
            raise InvalidItem(self.errors)
