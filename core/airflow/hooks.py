"""Airflow hooks for Lifeline's connection types: one generic hook class per connector's connection form.

Connectors never need these (they resolve credentials through `lifeline_hub.core.connections`); the hooks give
the types a place in Airflow's Connections UI and let custom tasks read a connection the way a
connector sees it, with the secrets Airflow's defaults miss masked. Airflow imports a type's hook by
the name the provider gives it (`DingtalkHook`, `FeishuHook`, a plugin's `WecomHook`...): this
module makes that class on first access from the connection type's form.

"Test connection" (Airflow's `[core] test_connection = Enabled`) runs the connector's own `check()`,
the one `lifeline check` runs, with the connection's credentials. A connection holds no base URLs or
settings (those live in `plugins.toml`, which names no connection Airflow tests), so the test uses the
connector's default base URLs and settings unless the connection's extras `base_urls` and `settings`
(JSON objects, read by the test only) say otherwise: e.g. `{"settings": {"corp_id": ..., "agent_id": ...}}`
for DingTalk, `{"base_urls": {"smtp": "smtps://mail.example.com:465"}, "settings": {"from_address": ...}}`
for e-mail. The answer is one line and never holds the login, the password or a secret extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret
from pydantic import ValidationError

from lifeline_hub.core.airflow.masking import mask_credentials, secret_values
from lifeline_hub.core.airflow.provider import connection_forms, hook_class_name
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connections import Credentials, parse
from lifeline_hub.core.connector import Connector, Instance


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

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test connection": the connector's `check()` with this connection; (ok, one line)."""
        credentials: Credentials | None = None
        try:
            credentials = self.get_conn()
            ok, message = self._check(credentials)
        except Exception as exc:  # Airflow shows str() of anything raised: answer it here, scrubbed
            ok, message = False, f"{type(exc).__name__}: {exc}"
        return ok, _one_line(_scrub(message, self._secrets(credentials)))

    def _check(self, credentials: Credentials) -> tuple[bool, str]:
        from lifeline_hub.core.plugins import get_host

        cls = next((c for c in get_host().connectors.values()
                    if c.connection_form is not None and c.connection_form.conn_type == self.conn_type), None)
        if cls is None:
            return False, f"no loaded connector declares connection type {self.conn_type!r}"
        base_urls, settings = (credentials.extra.get(key, {}) for key in ("base_urls", "settings"))
        if not (isinstance(base_urls, Mapping) and isinstance(settings, Mapping)):
            return False, "extras base_urls and settings must be JSON objects"
        try:
            options = cls.settings_model.model_validate(settings)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "(settings)" for e in exc.errors())
            return False, f"{cls.name}: set the settings it checks with in the extra 'settings' ({fields})"
        connector: Connector = cls(Instance(tenant="airflow", name=self.conn_id,
                                            base_urls={str(k): str(v) for k, v in base_urls.items()}),
                                   options, credentials)
        result = connector.check()
        return result.ok, result.message

    def _secrets(self, credentials: Credentials | None) -> list[str]:
        """What an answer must never show: login, password, the form's secret extras and those masking knows."""
        if credentials is None:
            return []
        values = [credentials.login, credentials.password, *secret_values(credentials),
                  *(credentials.extra.get(key) for key in self.form.secret_extras)]
        return sorted({v for v in values if isinstance(v, str) and v}, key=len, reverse=True)


def _scrub(message: str, secrets: list[str]) -> str:
    for value in secrets:
        message = message.replace(value, "***")
    return message


def _one_line(message: str) -> str:
    return " ".join(message.split())


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
