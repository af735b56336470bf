"""SQL functions that SQLite and PostgreSQL spell differently, as SQLAlchemy constructs.

Instants are compared as stored (SQLite keeps `YYYY-MM-DD HH:MM:SS.ffffff` UTC text, PostgreSQL
timestamptz), so a shifted instant must come back in the same form to compare exactly at boundaries.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from lifeline_hub.core.store.schema import UtcTimestamp


def unindexed(column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """The same (non-null) value as an expression no index can serve.

    For conditions like `tenant = ?` that hold for most rows: without table statistics SQLite's
    planner would otherwise look rows up through a tenant index instead of the selective one.
    """
    return sa.func.coalesce(column, "")


class shift(FunctionElement[Any]):
    """`instant + seconds`: shift(instant, seconds)."""

    type = UtcTimestamp()
    inherit_cache = True
    name = "ll_shift"


@compiles(shift, "sqlite")
def _shift_sqlite(element: shift, compiler: SQLCompiler, **kw: Any) -> str:
    instant, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strftime('%Y-%m-%d %H:%M:%f', {instant}, {seconds} || ' seconds') || '000')"


@compiles(shift, "postgresql")
def _shift_pg(element: shift, compiler: SQLCompiler, **kw: Any) -> str:
    instant, seconds = (compiler.process(c, **kw) for c in element.clauses)
    return f"({instant} + {seconds} * INTERVAL '1 second')"


class millis_between(FunctionElement[int]):
    """Whole milliseconds from the first instant to the second."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "ll_millis_between"


@compiles(millis_between, "sqlite")
def _millis_sqlite(element: millis_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(round((julianday({end}) - julianday({start})) * 86400000.0) AS INTEGER)"


@compiles(millis_between, "postgresql")
def _millis_pg(element: millis_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(round(EXTRACT(EPOCH FROM ({end} - {start})) * 1000) AS BIGINT)"


class id_list(FunctionElement[str]):
    """Aggregate: the non-null ids of a group as `1,2,3` text (NULL for none)."""

    type = sa.Text()
    inherit_cache = True
    name = "ll_id_list"


@compiles(id_list, "sqlite")
def _ids_sqlite(element: id_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, ',')"


@compiles(id_list, "postgresql")
def _ids_pg(element: id_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"string_agg(CAST({compiler.process(element.clauses, **kw)} AS TEXT), ',')"


class json_ids(FunctionElement[Any]):
    """An `id_list` text (or NULL) as a JSON array value for a JSON column."""

    type = sa.JSON()
    inherit_cache = True
    name = "ll_json_ids"


@compiles(json_ids, "sqlite")
def _json_sqlite(element: json_ids, compiler: SQLCompiler, **kw: Any) -> str:
    return f"('[' || coalesce({compiler.process(element.clauses, **kw)}, '') || ']')"


@compiles(json_ids, "postgresql")
def _json_pg(element: json_ids, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST('[' || coalesce({compiler.process(element.clauses, **kw)}, '') || ']' AS JSONB)"


class ref_source(FunctionElement[str]):
    """The `source` of a canonical id `source/remote_id`."""

    type = sa.String()
    inherit_cache = True
    name = "ll_ref_source"


class ref_remote(FunctionElement[str]):
    """The `remote_id` of a canonical id `source/remote_id` (which may hold more slashes)."""

    type = sa.String()
    inherit_cache = True
    name = "ll_ref_remote"


@compiles(ref_source, "sqlite")
def _source_sqlite(element: ref_source, compiler: SQLCompiler, **kw: Any) -> str:
    ref = compiler.process(element.clauses, **kw)
    return f"substr({ref}, 1, instr({ref}, '/') - 1)"


@compiles(ref_remote, "sqlite")
def _remote_sqlite(element: ref_remote, compiler: SQLCompiler, **kw: Any) -> str:
    ref = compiler.process(element.clauses, **kw)
    return f"substr({ref}, instr({ref}, '/') + 1)"


@compiles(ref_source, "postgresql")
def _source_pg(element: ref_source, compiler: SQLCompiler, **kw: Any) -> str:
    return f"split_part({compiler.process(element.clauses, **kw)}, '/', 1)"


@compiles(ref_remote, "postgresql")
def _remote_pg(element: ref_remote, compiler: SQLCompiler, **kw: Any) -> str:
    ref = compiler.process(element.clauses, **kw)
    return f"substr({ref}, strpos({ref}, '/') + 1)"


class json_text(FunctionElement[str]):
    """A JSON column's top-level member as JSON text: json_text(data, 'interviewer_ids') -> `["a","b"]`."""

    type = sa.Text()
    inherit_cache = True
    name = "ll_json_text"


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    return f"json_extract({column}, '$.' || {key})"


@compiles(json_text, "postgresql")
def _json_text_pg(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST({column} -> {key} AS TEXT)"


class quoted_in(FunctionElement[bool]):
    """quoted_in(value, json_text): whether the JSON text holds the string `value` (as `"value"`)."""

    type = sa.Boolean()
    inherit_cache = True
    name = "ll_quoted_in"


@compiles(quoted_in, "sqlite")
def _quoted_in_sqlite(element: quoted_in, compiler: SQLCompiler, **kw: Any) -> str:
    value, text = (compiler.process(c, **kw) for c in element.clauses)
    return f"(instr({text}, '\"' || {value} || '\"') > 0)"


@compiles(quoted_in, "postgresql")
def _quoted_in_pg(element: quoted_in, compiler: SQLCompiler, **kw: Any) -> str:
    value, text = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strpos({text}, '\"' || {value} || '\"') > 0)"
