"""Credentials by connection id, through Airflow's connection lookup wherever Airflow is set up.

Credentials never live in `plugins.toml`; an instance names a connection id. One path for every
process: an Airflow task asks the Task SDK; any other process (`lifeline serve`, `sync`, `check`)
with Airflow installed and configured asks Airflow's secrets backends in Airflow's order (a
configured `[secrets] backend` such as Vault or a local file, `AIRFLOW_CONN_<ID>`, the metadata
DB); without Airflow the same `AIRFLOW_CONN_<ID>` format (JSON or URI) is read here.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
    """Resolve a connection id: the Task SDK in a task, Airflow's secrets backends where Airflow is
    configured, else the environment; ConnectionNotFound names the id and where it looked."""
    if os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return _from_task_sdk(conn_id)
    if airflow_configured():
        return _from_secrets_backends(conn_id)
    raw = os.environ.get(env_var_name(conn_id))
    if raw is None:
        raise ConnectionNotFound(
            f"connection {conn_id!r} is not defined: looked in ${env_var_name(conn_id)} only "
            f"(Airflow is not {'configured' if _airflow_installed() else 'installed'} here; "
            f"set the variable, or configure Airflow to use its Connections and secrets backend)"
        )
    return parse(conn_id, raw)


def airflow_configured() -> bool:
    """Airflow is installed and this process is set up for it: `AIRFLOW__*` settings or an `airflow.cfg`."""
    if not _airflow_installed():
        return False
    if any(name.startswith("AIRFLOW__") for name in os.environ):
        return True
    home = Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()
    return Path(os.environ.get("AIRFLOW_CONFIG") or home / "airflow.cfg").expanduser().is_file()


def _airflow_installed() -> bool:
    return importlib.util.find_spec("airflow") is not None


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


def _from_task_sdk(conn_id: str) -> Credentials:
    from airflow.sdk import Connection  # only inside Airflow: keeps Airflow out of everything else

    try:
        return _credentials(conn_id, Connection.get(conn_id))
    except Exception as exc:  # Airflow raises its own not-found type
        raise ConnectionNotFound(f"Airflow connection {conn_id!r}: {exc}") from None


def _from_secrets_backends(conn_id: str) -> Credentials:
    """Ask Airflow's secrets backends in Airflow's order, skipping one that fails, as
    `Connection.get_connection_from_secrets` does (which also prints an RFC 3986 warning to stdout for every
    connection type with a `_`, such as `aliyun_sms`, and would corrupt a command's output)."""
    _import_airflow_keeping_logging()
    from airflow.configuration import ensure_secrets_loaded

    backends, failed = ensure_secrets_loaded(), []
    for backend in backends:
        try:
            conn = backend.get_connection(conn_id=conn_id)
        except PermissionError:  # Airflow's AirflowSecretsBackendAccessDenied: final, as in Airflow
            raise ConnectionNotFound(f"connection {conn_id!r}: access denied by {type(backend).__name__}") from None
        except Exception as exc:  # as in Airflow, a failing backend is skipped (and named below)
            failed.append(f"{type(backend).__name__} failed: {type(exc).__name__}")
            continue
        if conn is not None:
            return _credentials(conn_id, conn)
    if (raw := os.environ.get(env_var_name(conn_id))) is not None:
        parse(conn_id, raw)  # an unreadable variable: say why (Airflow only skips it)
    looked = ", ".join(type(b).__name__ for b in backends)
    raise ConnectionNotFound(
        f"connection {conn_id!r} is not defined: looked through Airflow's secrets backends ({looked}; "
        f"the environment one reads ${env_var_name(conn_id)}){''.join(f'; {f}' for f in failed)}"
    )


def _import_airflow_keeping_logging() -> None:
    """Import Airflow's lookup without it taking over the process's output: its first import replaces the root
    logger's handlers (`lifeline serve`'s log would leave stderr) and its own log lines go to stdout (where a
    command prints its results); after it, the root handlers are ours again and Airflow's lines go to stderr."""
    if "airflow.settings" in sys.modules:
        return
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    import airflow.models.connection  # noqa: F401 - configures Airflow (and its logging) once per process
    import structlog

    root.handlers[:] = handlers
    root.setLevel(level)
    factory = structlog.get_config().get("logger_factory")
    if factory is not None and getattr(factory, "io", False) is None:  # Airflow's factory: None means stdout
        factory.io = sys.stderr


def _credentials(conn_id: str, conn: Any) -> Credentials:
    """Airflow's Connection (the Task SDK's or the models' one) as Credentials."""
    return Credentials(
        conn_id=conn_id, conn_type=conn.conn_type, host=conn.host, login=conn.login, password=conn.password,
        port=conn.port, schema=conn.schema, extra=conn.extra_dejson,
    )
