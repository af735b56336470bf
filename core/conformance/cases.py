"""How the suite declares its cases and generates them for one connector: only the cases that apply, one
per stream, action or fault where a case is about one."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])
CASE_ATTRIBUTE = "__conformance_case__"


@dataclass(frozen=True)
class Case:
    """A conformance case: the test `test_<name>`, optionally parametrized over `param` with `values(suite)`.

    A case whose `applies(suite)` is False, or whose values are empty, is not generated at all (no skips).
    """

    name: str
    param: str | None
    values: Callable[[Any], Sequence[Any]] | None
    ids: Callable[[Any], str] | None
    applies: Callable[[Any], bool] | None


def case(*, param: str | None = None, values: Callable[[Any], Sequence[Any]] | None = None,
         ids: Callable[[Any], str] | None = None, applies: Callable[[Any], bool] | None = None) -> Callable[[F], F]:
    """Declare a suite method as a conformance case (generated as `test_<method name>`)."""

    def mark(fn: F) -> F:
        setattr(fn, CASE_ATTRIBUTE, Case(fn.__name__, param, values, ids, applies))
        return fn

    return mark


def generate(suite: type, known_gaps: Mapping[str, str]) -> None:
    """Add to `suite` a `test_<name>` for every case that applies to it; `known_gaps` (test id -> reason)
    become strict xfails: reported, and failing the run once the gap is closed."""
    generated: set[str] = set()
    for attr in dir(suite):
        if attr.startswith("test_"):
            continue  # a parent suite's generated test
        spec: Case | None = getattr(getattr(suite, attr, None), CASE_ATTRIBUTE, None)
        if spec is None or (spec.applies is not None and not spec.applies(suite)):
            continue
        test_name = f"test_{spec.name}"
        test = _bind(getattr(suite, attr))
        if spec.param is not None:
            assert spec.values is not None
            params = []
            for value in spec.values(suite):
                test_id = spec.ids(value) if spec.ids else str(value)
                generated.add(f"{test_name}[{test_id}]")
                params.append(pytest.param(value, id=test_id, marks=_gap(known_gaps.get(f"{test_name}[{test_id}]"))))
            if not params:
                continue
            test = pytest.mark.parametrize(spec.param, params)(test)
        else:
            generated.add(test_name)
            for mark in _gap(known_gaps.get(test_name)):
                test = mark(test)
        setattr(suite, test_name, test)
    unknown = sorted(set(known_gaps) - generated)
    if unknown:
        raise TypeError(f"{suite.__name__}.known_gaps names tests the suite does not generate: {unknown}")


def _bind(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def test(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return test


def _gap(reason: str | None) -> tuple[pytest.MarkDecorator, ...]:
    return () if reason is None else (pytest.mark.xfail(reason=f"known gap: {reason}", strict=True),)
