"""`lifeline_hub.core.markup` for any input: escaped markdown renders as the text itself and nothing more; an untrusted
value, however its URL is spelled or split, leaves nothing a client would auto-link."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifeline_hub.core.markup import escape_markdown, fill, untrusted
from tests.markup_helpers import foreign_links, render

MARKDOWNISH = st.lists(st.sampled_from([*"\\`*_~[]()<>&#!|+-=.:/@ \n张三aZ19", "&amp;", "&#91;", "    ", "1."]),
                       max_size=60).map("".join)
URLISH = st.lists(st.sampled_from([
    "https", "http", "ftp", "://", ":", "//", "www", ".", "evil", "com", "cn", "example", "/", "@", "mailto", "tel",
    "javascript", " ", "张三", "[", "]", "(", ")", "1", "-", "_", "\n", "\u200b", "\u202e", "x",
]), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(MARKDOWNISH)
def test_escaped_markdown_shows_the_text_and_no_markup(text: str) -> None:
    shown, markup = render(escape_markdown(text))
    assert markup == []
    assert shown.split() == text.split()


@settings(max_examples=400, deadline=None)
@given(URLISH)
def test_an_untrusted_value_leaves_nothing_to_click(text: str) -> None:
    assert foreign_links(untrusted(text), ()) == []
    shown, markup = render(escape_markdown(untrusted(text)))
    assert markup == [] and foreign_links(shown, ()) == []


def test_templates_mark_what_is_untrusted() -> None:
    template = "候选人：{name!u}，{count} 次 {note}"
    assert fill(template, name="张三](https://evil.example/x)\n# 紧急", count=2, note="ours: https://ll.example") == (
        "候选人：张三](https[:]//evil[.]example/x) # 紧急，2 次 ours: https://ll.example")
    with pytest.raises(ValueError, match="conversion"):  # a marked template cannot be filled unfiltered
        template.format(name="x", count=1, note="")
