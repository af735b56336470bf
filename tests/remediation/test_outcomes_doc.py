"""docs/outcomes.md's table names every outcome class, once, and every sub-reason reconciliation gives."""

from __future__ import annotations

import re
from pathlib import Path

from lifeline_hub.core.models import OutcomeClass
from tests.remediation.test_remediation_hr_texts import QUIET, SUBS

DOC = Path(__file__).resolve().parents[2] / "docs" / "outcomes.md"


def table() -> dict[str, str]:
    """The outcome table's rows by class: `| \\`class\\` | evidence | HR | Lifeline |`."""
    text = DOC.read_text(encoding="utf-8")
    head = text.index("| class | evidence needed")
    rows: dict[str, str] = {}
    for line in text[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 4, line
        found = re.fullmatch(r"`([a-z_]+)`", cells[0])
        assert found, cells[0]
        assert found.group(1) not in rows, f"{found.group(1)} twice"
        rows[found.group(1)] = line
    return rows


def test_the_table_names_every_outcome_class_in_decision_order() -> None:
    assert list(table()) == [c.value for c in OutcomeClass]


def test_each_row_names_the_sub_reasons_of_its_class() -> None:
    rows = table()
    for outcome, subs in {**SUBS, **QUIET}.items():
        for sub in subs:
            assert f"`{sub}`" in rows[outcome.value], (outcome, sub)
