"""Credentials by connection id: Airflow Connections inside Airflow, `AIRFLOW_CONN_<ID>` elsewhere.

Credentials never live in `plugins.toml`; an instance names a connection id. Outside Airflow the
same environment format is read here (JSON or URI form), so a terminal, the tests and a DAG task
resolve the same id the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


class ConnectionNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Credentials:
    """A resolved connection, in Airflow's shape; `repr` never shows the password or extras."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None
    schema: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        """An extra field, or login/password under their own names."""
        if key in ("login", "password", "host", "port", "schema"):
            value = getattr(self, key)
            return default if value is None else value
        return self.extra.get(key, default)

    def require(self, key: str) -> Any:
        value = self.get(key)
        if value in (None, ""):
            raise ConnectionNotFound(f"connection {self.conn_id!r} lacks {key!r}")
        return value


def env_var_name(conn_id: str) -> str:
    return "AIRFLOW_CONN_" + conn_id.upper()


def resolve(conn_id: str) -> Credentials:
    """Resolve a connection id: from Airflow when running inside an Airflow task, else the environment."""
    if os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return _from_airflow(conn_id)
    raw = os.environ.get(env_var_name(conn_id))
    if raw is None:
        raise ConnectionNotFound(
            f"connection {conn_id!r} is not defined (set {env_var_name(conn_id)} or an Airflow Connection)"
        )
    return parse(conn_id, raw)


def parse(conn_id: str, raw: str) -> Credentials:
    """Parse the `AIRFLOW_CONN_*` value: a JSON object or a URI (query parameters become extras)."""
    text = raw.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConnectionNotFound(f"connection {conn_id!r}: malformed JSON ({exc.msg})") from None
        extras = data.get("extra") or {}
        if isinstance(extras, str):
            extras = json.loads(extras) if extras else {}
        return Credentials(
            conn_id=conn_id, conn_type=data.get("conn_type"), host=data.get("host"), login=data.get("login"),
            password=data.get("password"), port=data.get("port"), schema=data.get("schema"), extra=extras,
        )
    parts = urlsplit(text)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    extra: dict[str, Any] = json.loads(query.pop("__extra__")) if "__extra__" in query else dict(query)
    return Credentials(
        conn_id=conn_id, conn_type=parts.scheme.replace("-", "_") or None, host=parts.hostname,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None, port=parts.port,
        schema=parts.path.lstrip("/") or None, extra=extra,
    )


def _from_airflow(conn_id: str) -> Credentials:
    from airflow.sdk import Connection  # only inside Airflow: keeps Airflow out of everything else

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # Airflow raises its own not-found type
        raise ConnectionNotFound(f"Airflow connection {conn_id!r}: {exc}") from None
    return Credentials(
        conn_id=conn_id, conn_type=conn.conn_type, host=conn.host, login=conn.login, password=conn.password,
        port=conn.port, schema=conn.schema, extra=conn.extra_dejson,
    )
