"""Paging helpers: turn a one-page `fetch` into a stream of pages, guarding against endless loops.

Each helper stops when the vendor says there is no more, and raises a `VendorError` when the
vendor hands back a page token, offset or cursor it already gave (a paging loop).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TypeVar

from lifeline_hub.core.http.errors import VendorError

T = TypeVar("T")
C = TypeVar("C", bound=Hashable)


class _Seen:
    def __init__(self, vendor: str, what: str) -> None:
        self.vendor, self.what = vendor, what
        self._seen: set[Hashable] = set()

    def add(self, value: Hashable) -> None:
        if value in self._seen:
            raise VendorError(
                f"vendor returned the same {self.what} {value!r} twice; stopping to avoid a paging loop",
                vendor=self.vendor,
                code="paging_loop",
            )
        self._seen.add(value)


def page_token_pages(
    fetch: Callable[[str | None], tuple[list[T], str | None, bool]], *, vendor: str = "unknown"
) -> Iterator[list[T]]:
    """Feishu style: `fetch(page_token) -> (items, next_page_token, has_more)`, first token None."""
    seen, token = _Seen(vendor, "page_token"), None
    while True:
        items, token, has_more = fetch(token)
        yield items
        if not has_more or not token:
            return
        seen.add(token)


def offset_pages(
    fetch: Callable[[int], tuple[list[T], bool, int | None]], *, start: int = 0, vendor: str = "unknown"
) -> Iterator[list[T]]:
    """DingTalk style: `fetch(offset) -> (items, has_more, next_offset)`.

    A None `next_offset` means "offset plus the number of items" (plain offset/size paging).
    """
    seen, offset = _Seen(vendor, "offset"), start
    seen.add(offset)
    while True:
        items, has_more, next_offset = fetch(offset)
        yield items
        if not has_more:
            return
        offset = offset + len(items) if next_offset is None else next_offset
        seen.add(offset)


def cursor_pages(
    fetch: Callable[[C | None], tuple[list[T], C | None]], *, vendor: str = "unknown"
) -> Iterator[list[T]]:
    """`fetch(cursor) -> (items, next_cursor)`; an empty or None cursor ends, first cursor None."""
    seen, cursor = _Seen(vendor, "cursor"), None
    while True:
        items, cursor = fetch(cursor)
        yield items
        if cursor is None or cursor == "":
            return
        seen.add(cursor)


def items(pages: Iterable[list[T]]) -> Iterator[T]:
    """Flatten pages into items."""
    for page in pages:
        yield from page
