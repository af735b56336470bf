"""WeChat templates: which template a purpose uses, what fills its keywords, and the keyword value rules.

A template message (or subscription notification) carries no free text: `data` maps each of the template's
keyword names (`thing1`, `time2`...) to `{"value": ...}`. An instance names, per purpose, the template and what
part of Lifeline's message fills each keyword: `title`, `text` (all of it on one line) or `lineN` (its N-th
non-empty line). Values are cut to what the keyword's prefix allows (channels.md §3.2; assumed alike for
template messages, UNCONFIRMED), so a long title never costs the send a 47003.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from lifeline_hub.core.actions import SendMessage

LIMITS = {"thing": 20, "number": 32, "letter": 32, "symbol": 5, "character_string": 32, "phone_number": 17,
          "car_number": 8, "name": 10, "phrase": 5, "time": 32, "date": 32, "amount": 16}
"""Characters a keyword value may hold, by the keyword's prefix (`name`: 10 Chinese characters)."""
OTHER_LIMIT = 200
EMPTY = "-"
"""The value of a keyword whose part of the message is empty (WeChat refuses empty values)."""

Part = Annotated[str, StringConstraints(pattern=r"^(title|text|line[1-9])$")]


class TemplateSpec(BaseModel):
    """One approved template and how Lifeline's message fills it."""

    model_config = ConfigDict(extra="forbid")

    template_id: str = Field(min_length=1, description="the template (or subscription template) id")
    keywords: dict[str, Part] = Field(min_length=1, description=(
        "keyword name (thing1, time2...) -> the part of the message it shows: title, text or lineN"))


def value_limit(keyword: str) -> int:
    """The most characters `keyword` (e.g. `thing1`) takes: the limit of its prefix."""
    return LIMITS.get(keyword.rstrip("0123456789"), OTHER_LIMIT)


def cut(value: str, limit: int) -> str:
    """`value` on one line, at most `limit` characters (an ellipsis marks a cut)."""
    flat = " ".join(value.split())
    if not flat:
        return EMPTY
    return flat if len(flat) <= limit else flat[: max(limit - 1, 1)] + ("…" if limit > 1 else "")


def template_data(spec: TemplateSpec, message: SendMessage) -> dict[str, dict[str, Any]]:
    """The `data` of a send: every keyword of `spec` filled from `message`, within its limit."""
    lines = [line.strip() for line in message.text.splitlines() if line.strip()]
    parts = {"title": message.title, "text": message.text}
    parts |= {f"line{n}": lines[n - 1] if n <= len(lines) else "" for n in range(1, 10)}
    return {keyword: {"value": cut(parts[part], value_limit(keyword))} for keyword, part in spec.keywords.items()}
