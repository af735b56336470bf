"""Airflow hooks for Lifeline's connection types: the metadata the provider declares, and `get_conn`.

Connectors never need these (they resolve credentials through `lifeline_hub.core.connections`); the hooks give
the types a place in Airflow's Connections UI and let custom tasks read a connection the way a
connector sees it, with the secrets Airflow's defaults miss masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from airflow.sdk import BaseHook

from lifeline_hub.core.airflow.masking import mask_credentials
from lifeline_hub.core.connections import Credentials, parse


class LifelineHook(BaseHook):
    conn_name_attr = "conn_id"
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    default_conn_name: ClassVar[str]
    labels: ClassVar[tuple[str, str]]
    """What the connection form calls the login and the password."""
    secret_extras: ClassVar[Mapping[str, str]]
    """Extra keys holding secrets, with their labels in the connection form."""

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name

    def get_conn(self) -> Credentials:
        """The connection as a connector receives it; its secrets are registered with the log masker."""
        credentials = parse(self.conn_id, self.get_connection(self.conn_id).as_json())
        mask_credentials(credentials)
        return credentials


class DingTalkHook(LifelineHook):
    conn_type = "dingtalk"
    hook_name = "DingTalk (Lifeline)"
    default_conn_name = "dingtalk_default"
    labels = ("AppKey", "AppSecret")
    secret_extras: ClassVar[Mapping[str, str]] = {
        "callback_token": "Event subscription token", "callback_aes_key": "Event subscription EncodingAESKey"}


class FeishuHook(LifelineHook):
    conn_type = "feishu"
    hook_name = "Feishu / Lark (Lifeline)"
    default_conn_name = "feishu_default"
    labels = ("App ID", "App Secret")
    secret_extras: ClassVar[Mapping[str, str]] = {
        "encrypt_key": "Event Encrypt Key", "verification_token": "Event Verification Token"}


class AIPlatformHook(LifelineHook):
    conn_type = "aiplatform"
    hook_name = "AI interview platform (Lifeline)"
    default_conn_name = "aiplatform_default"
    labels = ("Client ID", "Client secret")
    secret_extras: ClassVar[Mapping[str, str]] = {
        "webhook_secret": "Webhook signing secret", "webhook_secret_previous": "Previous webhook secret (rotation)"}


HOOKS: tuple[type[LifelineHook], ...] = (DingTalkHook, FeishuHook, AIPlatformHook)
