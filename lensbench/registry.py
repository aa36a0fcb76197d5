"""Named registries of simulators, architectures, metrics and priors.

A :class:`Registry` maps names to objects; it refuses a duplicate name and, asked for an unknown
one, says which names exist (``unknown architecture 'resnet81'; one of: alexnet, cnn, resnet18``).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class _Deferred:
    """An entry registered by :meth:`Registry.register_lazy`: ``"package.module:attribute"``."""

    def __init__(self, target: str):
        module, _, attribute = target.partition(":")
        if not module or not attribute:
            raise ValueError(f"a lazy entry is 'package.module:attribute', got {target!r}")
        self.module, self.attribute = module, attribute

    def load(self):
        return getattr(importlib.import_module(self.module), self.attribute)


def unknown_message(what: str, name, names: list[str]) -> str:
    """``unknown <what> '<name>'; one of: <names> (did you mean '<closest>'?)``, names in the order given."""
    text = f"unknown {what} '{name}'; one of: {', '.join(names)}"
    close = difflib.get_close_matches(str(name), list(names), n=1)
    return text + (f" (did you mean '{close[0]}'?)" if close else "")


class Registry(Generic[T]):
    """A mapping from names to objects of one kind.

    Parameters
    ----------
    kind : str
        What the entries are, used in messages ("architecture", "simulator", ...).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._locations: dict[str, _Deferred] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that adds an object under ``name``; a name can be registered once."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = obj
            return obj

        return add

    def register_lazy(self, name: str, target: str) -> None:
        """Add ``name`` as ``"package.module:attribute"``, imported at the first :meth:`get`.

        The name is listed and checked at once, without importing its module (``lensbench
        validate`` and ``lensbench list`` need no torch); a name can be registered once.
        """
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = self._locations[name] = _Deferred(target)

    def location(self, name: str) -> tuple[str, str] | None:
        """``(module, attribute)`` of an entry registered by :meth:`register_lazy` (imported or
        not), else None."""
        entry = self._locations.get(name)
        return (entry.module, entry.attribute) if entry is not None else None

    def unknown_message(self, name: str) -> str:
        """The message for an unknown ``name``: the allowed names and the closest match."""
        return unknown_message(self.kind, name, sorted(self._entries))

    def get(self, name: str) -> T:
        """The object registered as ``name``; ``KeyError`` with the list of names otherwise."""
        try:
            entry = self._entries[name]
        except KeyError:
            raise KeyError(self.unknown_message(name)) from None
        if isinstance(entry, _Deferred):
            entry = self._entries[name] = entry.load()
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def in_registration_order(self) -> list[str]:
        """Registered names in the order they were registered (built-ins first, then plug-ins)."""
        return list(self._entries)
