"""Paging helpers: stop conditions and the repeated-token guard."""

import pytest

from lifeline_hub.core.http import VendorError, cursor_pages, items, offset_pages, page_token_pages


def test_page_token_pages_stop_on_has_more_false_or_empty_token() -> None:
    pages = {None: ([1, 2], "a", True), "a": ([], "b", True), "b": ([3], "c", False)}
    assert list(page_token_pages(lambda token: pages[token])) == [[1, 2], [], [3]]
    pages = {None: ([1], "a", True), "a": ([2], "", True)}
    assert list(items(page_token_pages(lambda token: pages[token]))) == [1, 2]


def test_page_token_repeated_is_refused() -> None:
    pages = {None: ([1], "a", True), "a": ([2], "b", True), "b": ([3], "a", True)}
    with pytest.raises(VendorError, match="same page_token 'a' twice") as caught:
        list(page_token_pages(lambda token: pages[token], vendor="feishu"))
    assert caught.value.vendor == "feishu"
    assert caught.value.code == "paging_loop"
    assert not caught.value.retryable


def test_offset_pages_follow_next_offset_or_count_items() -> None:
    seen: list[int] = []

    def fetch(offset: int) -> tuple[list[int], bool, int | None]:
        seen.append(offset)
        rows = list(range(offset, min(offset + 3, 7)))
        return rows, offset + 3 < 7, None

    assert list(items(offset_pages(fetch))) == list(range(7))
    assert seen == [0, 3, 6]
    cursors = {10: ([1], True, 25), 25: ([2], False, 40)}
    assert list(offset_pages(lambda offset: cursors[offset], start=10)) == [[1], [2]]


def test_offset_repeated_is_refused() -> None:
    with pytest.raises(VendorError, match="same offset 0 twice"):
        list(offset_pages(lambda offset: ([], True, None)))  # an empty page that claims more


def test_cursor_pages_stop_on_empty_cursor_and_refuse_repeats() -> None:
    pages = {None: (["a"], 5), 5: (["b"], 9), 9: (["c"], None)}
    assert list(items(cursor_pages(lambda cursor: pages[cursor]))) == ["a", "b", "c"]
    assert list(cursor_pages(lambda cursor: ([1], "" if cursor else "x"))) == [[1], [1]]
    loop = {None: ([1], "x"), "x": ([2], "y"), "y": ([3], "x")}
    with pytest.raises(VendorError, match="same cursor 'x' twice"):
        list(cursor_pages(lambda cursor: loop[cursor], vendor="dingtalk"))
