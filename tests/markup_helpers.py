"""What HR sees of a text that reached a vendor: a markdown field rendered as a CommonMark client renders it
(markdown-it, inline HTML on, as DingTalk's `<font>` and Feishu's `<at>` need), a plain field as it is; and
whether anything in it is a link, a tag or other markup that Lifeline did not put there.

Auto-linking is judged the way IM clients do it, independently of `lifeline_hub.core.markup`: a scheme followed by
something, `www.`, an e-mail address or a host name with a common top-level domain."""

from __future__ import annotations

import re
from collections.abc import Iterable

from markdown_it import MarkdownIt
from markdown_it.token import Token

HOSTILE_NAMES = (
    "张三](https://evil.example)",
    '**李四** <a href="https://evil.example/a">点我</a>',
    "王五 <at id=all></at> @all [立即处理](https://evil.example/x)",
)
"""Candidate names from an ATS that try to become a link, a tag, a mention or emphasis."""
PHISHING_NOTE = "请尽快处理 [立即处理](https://evil.example/x) 或访问 www.evil.com\n# 紧急"
"""A reschedule note a candidate types on the `/r/` page."""
SHOWN_NAMES = (
    "张三](https[:]//evil[.]example)",
    '**李四** <a href="https[:]//evil[.]example/a">点我</a>',
    "王五 <at id=all></at> @all [立即处理](https[:]//evil[.]example/x)",
)
"""The names as HR must read them: the candidate's words, their URLs defanged."""
SHOWN_NOTE = "请尽快处理 [立即处理](https[:]//evil[.]example/x) 或访问 www[.]evil[.]com # 紧急"

LINKLIKE = re.compile(
    r"(?i)\b(?:https?|ftp|file|javascript|data|mailto|tel|sms|dingtalk|lark):[^\s\[\]]+"
    r"|\bwww\.[^\s\[\]]+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}"
    r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|cn|net|org|io|example|top|xyz|ly)\b"
)
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_PLAIN = {"paragraph_open", "paragraph_close", "inline", "text", "softbreak", "hardbreak"}


def foreign_links(shown: str, own: Iterable[str]) -> list[str]:
    """What a client would auto-link in `shown`, besides Lifeline's own URLs."""
    for url in sorted(own, key=len, reverse=True):
        shown = shown.replace(url, " ")
    return LINKLIKE.findall(shown)


def render(markdown: str) -> tuple[str, list[Token]]:
    """The text a reader sees of `markdown` (line by line) and every token that is more than text."""
    shown: list[str] = []
    markup: list[Token] = []

    def walk(tokens: list[Token]) -> None:
        for token in tokens:
            if token.type == "text":
                shown.append(token.content)
            elif token.type in ("softbreak", "hardbreak", "paragraph_close", "heading_close"):
                shown.append("\n")
            if token.type not in _PLAIN:
                markup.append(token)
            walk(token.children or [])

    walk(_MD.parse(markdown))
    return "".join(shown), markup


def assert_markdown_shows(markdown: str, own: Iterable[str], *words: str, title: str | None = None) -> str:
    """`markdown` renders to text showing `words`, with no markup but the `### title` heading and links
    to `own` URLs; returns the text shown."""
    own = set(own)
    shown, markup = render(markdown)
    heading = [t for t in markup if t.type.startswith("heading")]
    links = [t for t in markup if t.type == "link_open"]
    other = [t for t in markup if not t.type.startswith(("heading", "link"))]
    assert not other, f"markup in {markdown!r}: {[(t.type, t.content or t.markup) for t in other]}"
    assert all(t.attrGet("href") in own for t in links), [t.attrGet("href") for t in links]
    if title is None:
        assert not heading, markdown
    else:
        assert [t.tag for t in heading] == ["h3", "h3"] and shown.startswith(title + "\n"), (shown, title)
    assert not foreign_links(shown, own), (foreign_links(shown, own), shown)
    flat = " ".join(shown.split())
    for word in words:
        assert word in flat, (word, flat)
    return shown


def assert_plain_shows(text: str, own: Iterable[str], *words: str) -> None:
    """A plain-text field: nothing a client would auto-link but `own` URLs, and `words` in it."""
    assert not foreign_links(text, own), (foreign_links(text, own), text)
    flat = " ".join(text.split())
    for word in words:
        assert word in flat, (word, flat)
