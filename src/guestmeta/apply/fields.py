"""Typed access to one raw item's fields, recording a wrong type instead of raising.

Real API bodies carry many fields guestmeta does not use (links, status, tags...):
those are ignored. A field guestmeta does use must have the right JSON type.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def json_type(value: Any) -> str:
    """A JSON value's type as a person would say it: "a string", "an integer", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"  # YAML dates and the like


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
               dict: "a mapping"}  # fmt: skip


class Fields:
    def __init__(
        self, data: dict[str, Any], errors: list[tuple[str, str]] | None = None, prefix: str = ""
    ) -> None:
        self.data = data
        self.errors: list[tuple[str, str]] = [] if errors is None else errors
        self.prefix = prefix

    def has(self, *keys: str) -> bool:
        return any(key in self.data for key in keys)

    def _get(self, keys: tuple[str, ...]) -> tuple[str, Any]:
        for key in keys:
            if key in self.data:
                return key, self.data[key]
        return keys[0], _MISSING

    def _typed(self, keys: tuple[str, ...], kind: type, nullable: bool) -> Any:
        key, value = self._get(keys)
        if value is _MISSING:
            return None
        if value is None and nullable:
            return None
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            self.error(key, f"must be {_TYPE_NAMES[kind]}, not {json_type(value)}")
            return None
        return value

    def text(self, *keys: str, nullable: bool = True) -> str | None:
        value: str | None = self._typed(keys, str, nullable)
        return value

    def integer(self, *keys: str, nullable: bool = True) -> int | None:
        value: int | None = self._typed(keys, int, nullable)
        return value

    def boolean(self, *keys: str) -> bool | None:
        value: bool | None = self._typed(keys, bool, True)
        return value

    def items(self, *keys: str) -> list[Any] | None:
        value: list[Any] | None = self._typed(keys, list, True)
        return value

    def mapping(self, *keys: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._typed(keys, dict, True)
        return value

    def error(self, key: str, message: str) -> None:
        self.errors.append((self.prefix + key, message))

    def sub(self, prefix: str, data: Any) -> Fields | None:
        """Fields of a nested mapping, whose errors are reported under ``prefix``."""
        if not isinstance(data, dict):
            self.error(prefix, f"must be a mapping, not {json_type(data)}")
            return None
        return Fields(data, self.errors, f"{self.prefix}{prefix}.")
