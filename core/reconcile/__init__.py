"""Reconciliation: decide from the evidence trail whether each interview happened and, if not, why.

`reconcile(store, tenant, now, config)` runs the rules as set-based SQL over the store (SQLite and
PostgreSQL alike), behind a completeness gate, incrementally; `evidence_trail` exports one
interview's trail. Modules: `needs` (kind -> streams), `gate` (watermarks, stale alerts), `scope`
(incremental selection), `rules` (the classification SQL), `outcomes` (versioned writes),
`override` (the `lifeline_classify` hook), `run` (the driver), `trail` (export), `cli`.
"""

from lifeline_hub.core.reconcile.needs import KIND_NEEDS, Needs, needs_of
from lifeline_hub.core.reconcile.rules import RULE_VERSION
from lifeline_hub.core.reconcile.run import ReconcileSummary, reconcile
from lifeline_hub.core.reconcile.trail import Trail, evidence_trail

__all__ = ["KIND_NEEDS", "RULE_VERSION", "Needs", "ReconcileSummary", "Trail", "evidence_trail", "needs_of",
           "reconcile"]
