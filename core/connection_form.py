"""The Airflow connection type a connector's credentials live in, as the connector declares it.

A connector class sets `connection_form = ConnectionForm(...)`; Lifeline's Airflow provider lists
every loaded plugin's forms as connection types (`lifeline_hub.core.airflow.provider`), each with a
generic hook (`lifeline_hub.core.airflow.hooks`). A connection holds only credentials: base URLs and
settings live in `plugins.toml`, so the form shows login, password and the secret extras.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_CONN_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ConnectionForm:
    """One Airflow connection type: its id, its name in the type list and what its form asks for."""

    conn_type: str
    """Airflow's `conn_type` (a lower-case identifier, e.g. `wecom`): what `AIRFLOW_CONN_<ID>` names."""
    hook_name: str
    """The type's name in Airflow's list, e.g. "WeCom (Lifeline)"."""
    labels: tuple[str, str] = ("Login", "Password")
    """What the form calls the login and the password (e.g. "CorpID", "Secret")."""
    secret_extras: Mapping[str, str] = field(default_factory=dict)
    """Extra keys holding secrets, with their labels: password fields in the form, masked in task logs."""

    def __post_init__(self) -> None:
        if not (isinstance(self.conn_type, str) and _CONN_TYPE.match(self.conn_type)):
            raise ValueError(f"conn_type must be a lower-case identifier, got {self.conn_type!r}")
        if not (isinstance(self.hook_name, str) and self.hook_name.strip()):
            raise ValueError(f"connection type {self.conn_type!r}: hook_name must be a non-empty string")
        if not (len(self.labels) == 2 and all(isinstance(label, str) and label for label in self.labels)):
            raise ValueError(f"connection type {self.conn_type!r}: labels must be two strings (login, password)")
        if not all(isinstance(k, str) and k and isinstance(v, str) for k, v in dict(self.secret_extras).items()):
            raise ValueError(f"connection type {self.conn_type!r}: secret_extras must map extra keys to labels")
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "secret_extras", dict(self.secret_extras))

    def as_json(self) -> dict[str, Any]:
        """The form as the plugin manifest records it (`from_json` reads it back)."""
        return {"conn_type": self.conn_type, "hook_name": self.hook_name, "labels": list(self.labels),
                "secret_extras": dict(self.secret_extras)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConnectionForm:
        """A form from the manifest; raises ValueError/TypeError/KeyError when it is not one."""
        login, password = data["labels"]
        return cls(data["conn_type"], data["hook_name"], (login, password), dict(data["secret_extras"]))
