"""Where a fan-out chunk ends: shared by every e-mail fan-out (participants, updates,
proposal supporters), so each chunk covers the same entries however often it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, Self, TypeVar


class Chunk(Protocol):
    """A page of a list of recipients: the entries after `after` (None: from the first)."""

    @property
    def after(self) -> str | None: ...

    def successor(self, after: str) -> Self: ...


C = TypeVar("C", bound=Chunk)
T = TypeVar("T")


@dataclass(frozen=True)
class Entries(Generic[T]):
    items: list[T]
    last: str | None  # the id the next chunk goes on after (None: the list ends here)


def chunk_entries(
    chunk: C,
    read: Callable[[int | None, str | None], Entries[T]],
    *,
    limit: int,
    add_chunk: Callable[[C], bool],
    stored: Callable[[C], C | None],
) -> list[T]:
    """The chunk's entries; its successor is written first (once: `add_chunk` is a conditional
    put), so the rest of the list goes on even while this chunk's failures are retried.

    `read(limit, until)`: the entries after `chunk.after`, at most `limit`, or up to `until`
    inclusive. A redelivered chunk finds its successor written: that successor, not a fresh
    page (entries added or removed since may have moved the page's end), fixes where it ends.
    """
    page = read(limit, None)
    if page.last is None:
        return page.items
    successor = chunk.successor(page.last)
    if add_chunk(successor):
        return page.items
    written = stored(successor)
    if written is None or written.after is None or written.after == page.last:
        return page.items
    return read(None, written.after).items
