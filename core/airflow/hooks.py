"""Airflow hooks for Lifeline's connection types: one generic hook class per connector's connection form.

Connectors never need these (they resolve credentials through `lifeline_hub.core.connections`); the hooks give
the types a place in Airflow's Connections UI and let custom tasks read a connection the way a
connector sees it, with the secrets Airflow's defaults miss masked. Airflow imports a type's hook by
the name the provider gives it (`DingtalkHook`, `FeishuHook`, a plugin's `WecomHook`...): this
module makes that class on first access from the connection type's form.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from lifeline_hub.core.airflow.masking import mask_credentials
from lifeline_hub.core.airflow.provider import connection_forms, hook_class_name
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connections import Credentials, parse


class LifelineHook(BaseHook):
    conn_name_attr = "conn_id"
    form: ClassVar[ConnectionForm]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    default_conn_name: ClassVar[str]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name

    @classmethod
    def for_form(cls, form: ConnectionForm) -> type[LifelineHook]:
        """The hook class of one connection type."""
        return type(hook_class_name(form.conn_type), (cls,), {
            "__module__": __name__, "form": form, "conn_type": form.conn_type, "hook_name": form.hook_name,
            "default_conn_name": f"{form.conn_type}_default"})

    def get_conn(self) -> Credentials:
        """The connection as a connector receives it; its secrets are registered with the log masker
        (those Airflow's defaults miss, and every extra the form declares secret)."""
        credentials = parse(self.conn_id, self.get_connection(self.conn_id).as_json())
        mask_credentials(credentials)
        for key in self.form.secret_extras:
            value = credentials.extra.get(key)
            if isinstance(value, str) and value:
                mask_secret(value)
        return credentials


_HOOKS: dict[str, type[LifelineHook]] = {}


def __getattr__(name: str) -> type[LifelineHook]:
    """`<ConnType>Hook`: the hook of a connection type a loaded plugin declares."""
    if name not in _HOOKS and name.endswith("Hook") and not name.startswith("_"):
        for form in connection_forms():
            if hook_class_name(form.conn_type) == name:
                _HOOKS[name] = LifelineHook.for_form(form)
                break
    try:
        return _HOOKS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r} (no Lifeline connection type)") from None
