"""A retry budget: the in-task HTTP retries of one task run, all clients together, stay within a time budget.

A task (an Airflow sync task, derived from its DAG's schedule) runs its work inside `retry_budget(seconds)`;
every `VendorClient` call in the block retries only while the wait before the next attempt still ends
within the budget, then fails with `BudgetSpent` naming the budget and the last error. Time is the
toolkit's clock (`core.http.clock`), so a test with a fake clock spends the budget without waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lifeline_hub.core.http.clock import current_clock
from lifeline_hub.core.http.errors import TransientError


class BudgetSpent(TransientError):
    """A call's retries stopped because the task's retry budget would run out before the next attempt."""


@dataclass(frozen=True)
class Budget:
    seconds: float
    deadline: float
    """On the clock's `monotonic()`."""

    def allows(self, wait: float) -> bool:
        """Whether waiting `wait` seconds before another attempt still ends within the budget."""
        return current_clock().monotonic() + wait <= self.deadline


_current: list[Budget] = []
_swap = threading.Lock()


def current_budget() -> Budget | None:
    """The budget of the block running now (every thread sees it), or None: no budget."""
    return _current[-1] if _current else None


@contextmanager
def retry_budget(seconds: float) -> Iterator[Budget]:
    """Run the block with `seconds` of retry budget from now (an outer, tighter budget still applies)."""
    if seconds <= 0:
        raise ValueError(f"a retry budget is a positive number of seconds, not {seconds}")
    budget = Budget(seconds, current_clock().monotonic() + seconds)
    outer = current_budget()
    if outer is not None and outer.deadline < budget.deadline:
        budget = outer
    with _swap:
        _current.append(budget)
    try:
        yield budget
    finally:
        with _swap:
            del _current[len(_current) - 1 - _current[::-1].index(budget)]
