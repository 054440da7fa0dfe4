"""A small explicit registry: named entries, duplicates rejected, typo suggestions, entry points.

Every pluggable thing (task loader, init source, synthetic family, protocol) registers here once,
so adding one is a single decorated definition rather than another `if name == ...` branch.
"""

from __future__ import annotations

import difflib
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, TypeVar

from harness.errors import MedbenchError, UnknownNameError

T = TypeVar("T")
LISTED_NAMES = 12  # an unknown name's error lists the known ones up to this many


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str | None = None, listing: str | None = None) -> None:
        self.kind = kind
        self.listing = listing  # the command that lists every entry, named instead of a long list in errors
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T] = {}
        self._plugins_loaded = entry_point_group is None

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise MedbenchError(f"{self.kind} {name!r} is registered twice; rename one of them")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            if ep.name not in self._entries:
                self.add(ep.name, ep.load())

    def get(self, name: str) -> T:
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        names = self.names()
        if self.listing and len(names) > LISTED_NAMES:  # a long list buries the suggestion
            return f"unknown {self.kind} {name!r}{hint} ({len(names)} known; `{self.listing}` lists them)"
        return f"unknown {self.kind} {name!r}{hint} (known: {', '.join(names)})"

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
