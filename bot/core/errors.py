"""An error's chain of causes, as both processes look for a failed part behind an error.

Standard library only: the Rasa process imports it too (bot/rasa_side/faults.py), as does
the knowledge base (knowledge/outage.py)."""

from __future__ import annotations

from collections.abc import Iterator


def causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what caused it (``raise ... from``, or the error being handled), and so on."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


def caused_by(error: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether `error`, or an error in its chain of causes, is one of `kinds`."""
    return any(isinstance(cause, kinds) for cause in causes(error))
