"""One registry type for everything picked by name (methods, judges, datasets, arms)."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def did_you_mean(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


class Registry(Generic[T]):
    """A name → object map whose lookups fail with a did-you-mean message. Its first lookup loads
    the plugins of its kind (`plugins.py`)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    @property
    def items(self) -> dict[str, T]:
        from . import plugins  # here, not at the top: plugin modules import this one

        plugins.load(self.kind)
        return self._items

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        items = self.items
        if name not in items:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(sorted(items))}."
                + did_you_mean(name, list(items))
            )
        return items[name]

    def names(self) -> list[str]:
        return sorted(self.items)

    def __contains__(self, name: str) -> bool:
        return name in self.items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def doc(self, name: str) -> str:
        obj = self.items[name]
        text = (getattr(obj, "__doc__", None) or "").strip()
        return text.splitlines()[0] if text else ""
