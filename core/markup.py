"""Text for people, made safe twice: untrusted values defanged where the core writes them, plain
text escaped for its target format where a connector renders it.

Payloads carry plain text. Lifeline's own links travel apart, as `links` (buttons and link elements,
or a `label: url` line where a field takes neither: `with_links`), never inside the text.

- Where a text is built, every value Lifeline did not write itself (a candidate's name or note, an
  ATS's platform name, a vendor's error code) is *untrusted*: a template marks its field `{name!u}`
  and `fill` puts the value through `untrusted`: one line, control and invisible characters out, URLs
  and host names defanged (`https://evil.example/x` -> `https[:]//evil[.]example/x`, the
  threat-intelligence convention), so HR reads what the candidate wrote but no client, auto-linking
  plain or markdown text, offers it as something to click.
- Where a connector renders a field that the vendor shows as markdown (DingTalk markdown messages and
  action cards, Feishu card `lark_md`/`markdown`), it escapes the whole text with `escape_markdown`:
  HTML character references (`&#91;` for `[`), which both vendors' renderers decode and CommonMark
  never reads as markup, for what starts a link, an image, an HTML tag such as Feishu's `<at id=all>`,
  emphasis, code or a table anywhere, and for what starts a heading, quote or list at the start of a
  line. Fields shown as plain text (todo and task texts, approval form values, DING content, titles,
  button labels) take the text as it is; single-line fields (e-mail headers) take it through `one_line`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any

from lifeline_hub.core.actions import Link

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SCHEME = re.compile(r"(?i)\b(https?|ftp|mailto|tel|sms|callto|javascript|vbscript|data|file):(?=\S)")
_WWW = re.compile(r"(?i)\bwww\.")
_HOST = re.compile(r"(?:[\w-]+\.)+[^\W\d_]{2,}")  # a TLD followed by `_` or a digit is a host to a linkifier too
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


def defang_urls(text: str) -> str:
    """`text` with every URL, host name, IP address and link scheme made unclickable but readable:
    `://` -> `[:]//`, `mailto:` -> `mailto[:]`, the dots of `www.`, `evil.example`, `10.0.0.1` -> `[.]`."""
    text = _SCHEME.sub(r"\1[:]", text.replace("://", "[:]//"))
    return _IPV4.sub(_dots, _HOST.sub(_dots, _WWW.sub("www[.]", text)))


def _dots(match: re.Match[str]) -> str:
    return match.group().replace(".", "[.]")


def one_line(value: object) -> str:
    """`value` on one line: control and invisible characters out, each run of white space one space (what
    a single-line field such as an e-mail header takes)."""
    return " ".join(_CONTROL.sub(" ", _INVISIBLE.sub("", str(value))).split())


def untrusted(value: object) -> str:
    """A value from outside Lifeline (a candidate, an ATS, a vendor), fit to stand inside a line of
    Lifeline's text: on one line, without control or invisible characters, URLs defanged."""
    return defang_urls(one_line(value))


class _Fill(string.Formatter):
    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return untrusted(value) if conversion == "u" else super().convert_field(value, conversion)


_FILL = _Fill()


def fill(template: str, /, **values: object) -> str:
    """`template.format(**values)`, where a field marked `!u` (`{name!u}`) gets `untrusted(value)`.
    Templates with such marks fail loudly under plain `str.format` (unknown conversion), so a
    marked value cannot slip in unfiltered."""
    return _FILL.vformat(template, (), values)


_INLINE = {c: f"&#{ord(c)};" for c in "\\`*_~[]|<>"}
_INLINE["&"] = "&amp;"
_LINE_START = re.compile(r"^(?:([ \t#+=-])|(\d{1,9})([.)]))", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """Plain `text` for a markdown field (DingTalk markdown, Feishu `lark_md`/`markdown`): shows
    `text`, with no link, tag, mention, emphasis, code, heading, quote or list of its own (a line's
    first character is escaped when it could start a block: an indent, `#`, `+`, `=`, `-`, `1.`)."""
    escaped = "".join(_INLINE.get(c, c) for c in text)
    return _LINE_START.sub(_line_start, escaped)


def _line_start(match: re.Match[str]) -> str:
    mark, number, dot = match.groups()
    return f"&#{ord(mark)};" if mark else f"{number}&#{ord(dot)};"


def with_links(text: str, links: Iterable[Link]) -> str:
    """Plain `text` and a `label: url` line per link, for fields that take neither buttons nor markup."""
    return "\n".join([text, *(f"{link.label}: {link.url}" for link in links)])
