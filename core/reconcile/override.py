"""The `lifeline_classify` hook: a plugin may replace the built-in decision for an interview.

Called only when some plugin implements the hook (it costs a Python call per decided interview,
with the canonical records rebuilt from the store), and only for interviews the rules decided
(not `pending`). A returned Outcome replaces class, sub-reason, confidence and rule version; its
evidence ids are kept when given, else the ids the rules cite for its class are looked up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import sqlalchemy as sa

from lifeline_hub.core.models import RECORD_TYPES, Evidence, Interview, OutcomeClass
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.reconcile.scope import DECISION
from lifeline_hub.core.store.schema import evidence, interviews

HOOK = "lifeline_classify"
BATCH = 500


def apply_classify_hook(conn: sa.Connection, host: PluginHost) -> int:
    """Let the hook override decisions in the decision table; returns how many it changed."""
    if not host.implements(HOOK):
        return 0
    d = DECISION
    decided = list(conn.execute(sa.select(d.c.interview_id).where(d.c.outcome != OutcomeClass.pending.value)
                                .order_by(d.c.interview_id)).scalars())
    changed = 0
    for start in range(0, len(decided), BATCH):
        for interview, trail in _records(conn, decided[start:start + BATCH]):
            result = host.classify(interview, trail)
            if result is None:
                continue
            values: dict[str, object] = {
                "outcome": result.outcome.value, "sub_reason": result.sub_reason,
                "confidence": result.confidence.value, "rule_version": result.rule_version[:32],
                "evidence_ids": ",".join(str(i) for i in result.evidence_ids) or None,
            }
            conn.execute(sa.update(d).where(d.c.interview_id == interview.id).values(values))
            changed += 1
    return changed


def _records(conn: sa.Connection, ids: list[str]) -> Iterator[tuple[Interview, list[Evidence]]]:
    i, e = interviews, evidence
    found: dict[str, list[Evidence]] = defaultdict(list)
    rows = conn.execute(sa.select(e.c.interview_id, e.c.kind, e.c.data).where(e.c.interview_id.in_(ids))
                        .order_by(e.c.interview_id, e.c.occurred_at, e.c.id))
    for interview_id, kind, data in rows:
        record = RECORD_TYPES[kind].model_validate(data)
        if isinstance(record, Evidence):
            found[interview_id].append(record)
    for (data,) in conn.execute(sa.select(i.c.data).where(i.c.id.in_(ids)).order_by(i.c.id)):
        interview = Interview.model_validate(data)
        yield interview, found[interview.id]
