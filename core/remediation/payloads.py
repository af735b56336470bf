"""Action payloads, validated by the shared model of their kind (`lifeline_hub.core.actions.PAYLOADS`)."""

from __future__ import annotations

from typing import Any

from lifeline_hub.core.actions import PAYLOADS


def payload_of(kind: str, **fields: Any) -> dict[str, Any]:
    """A payload of `kind` as JSON; invalid fields raise (a planning bug, never sent)."""
    return PAYLOADS[kind].model_validate(fields).model_dump(mode="json", exclude_none=True)
