"""The `wechat` connector: WeChat Official Account template messages (or subscription notifications) to candidates.

Instance table (settings: `lifeline_hub.connectors.wecom.oa_settings.WeChatSettings`):

    [tenants.acme.connectors.wechat]
    plugin = "wechat"
    connection_id = "wechat_acme"
    app_id = "wx..."
    templates = { reminder_t1d = { template_id = "...", keywords = { thing1 = "title", time2 = "line1" } } }

Connection (`AIRFLOW_CONN_WECHAT_ACME`): password = AppSecret, extras `callback_token` and `callback_aes_key`
(the account's server settings, safe mode). The channel is the built-in `wechat`; a candidate's address is their
openid (for this account). Results come only as callbacks (`TEMPLATESENDJOBFINISH`, `subscribe_msg_sent_event`)
at `/callbacks/<instance>`: "sent" is accepted, delivery is known from the callback, reads never.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from lifeline_hub.connectors.wecom import oa_callbacks, oa_send
from lifeline_hub.connectors.wecom.crypto import OfficialAccountCrypto
from lifeline_hub.connectors.wecom.oa_client import WECHAT_HOST, WeChatClient
from lifeline_hub.connectors.wecom.oa_settings import WeChatSettings
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connections import ConnectionNotFound, Credentials
from lifeline_hub.core.connector import (
    ActionResult,
    CallbackRejected,
    CallbackRequest,
    CallbackResult,
    CheckResult,
    Connector,
    ContactBook,
    Instance,
)
from lifeline_hub.core.hookspecs import hookimpl
from lifeline_hub.core.http import AuthFailed, VendorError
from lifeline_hub.core.models import Action

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""

Performer = Callable[["WeChatConnector", Action], ActionResult]
PERFORMERS: dict[str, Performer] = {"send_message": oa_send.send_message}


class WeChatConnector(Connector):
    name = "wechat"
    description = "WeChat Official Account (微信公众号): template messages and subscription notifications to candidates"
    settings_model = WeChatSettings
    actions = tuple(PERFORMERS)
    default_base_urls: ClassVar[Mapping[str, str]] = {"api": WECHAT_HOST}
    emulator = "lifeline_hub.connectors.wecom.oa_emulator:create_app"
    sandbox_actor = "lifeline_hub.connectors.wecom.sandbox:WeChatActor"
    callback_kit: ClassVar[str] = "lifeline_hub.connectors.wecom.oa_callback_kit:kit"
    connection_form = ConnectionForm(
        "wechat", "WeChat Official Account (Lifeline)", ("AppID", "AppSecret"),
        {"callback_token": "Server Token", "callback_aes_key": "Server EncodingAESKey"})

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any]:
        """The emulated account's AppID/AppSecret and its server Token and EncodingAESKey."""
        s = world.settings
        return {"login": s.app_id, "password": s.app_secret,
                "extra": {"callback_token": s.callback_token, "callback_aes_key": s.callback_aes_key}}

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        super().__init__(instance, settings, credentials, contacts)
        self.options = (settings if isinstance(settings, WeChatSettings)
                        else WeChatSettings.model_validate(settings.model_dump()))
        self._client: WeChatClient | None = None
        self._lock = threading.Lock()

    def _secret(self, key: str) -> str:
        """A connection field (`password` = AppSecret, or an extra); `AuthFailed` when the connection lacks it."""
        if self.credentials is None:
            raise AuthFailed(f"{self.instance.name}: no connection configured (connection_id)", vendor="wechat")
        try:
            return str(self.credentials.require(key))
        except ConnectionNotFound as exc:
            raise AuthFailed(str(exc), vendor="wechat") from None

    @property
    def client(self) -> WeChatClient:
        """The account's HTTP client (one token and rate limiter for all threads), built on first use."""
        with self._lock:
            if self._client is None:
                login = self.credentials.login if self.credentials is not None else None
                if login and login != self.options.app_id:
                    raise AuthFailed(f"{self.instance.name}: the connection is for AppID {login}, the settings "
                                     f"name {self.options.app_id}", vendor="wechat")
                self._client = WeChatClient(self.base_url("api"), self.options.app_id, self._secret("password"),
                                            token_api=self.options.token_api,
                                            timeout=(3.05, self.options.http_timeout_seconds))
            return self._client

    def callback_crypto(self) -> OfficialAccountCrypto:
        """The account's safe-mode crypto (receive id = AppID); `CallbackRejected` while callbacks are unset."""
        try:
            return OfficialAccountCrypto(self._secret("callback_token"), self._secret("callback_aes_key"),
                                         self.options.app_id)
        except (VendorError, ValueError) as exc:
            raise CallbackRejected(f"callbacks are not configured: {exc}") from None

    def check(self) -> CheckResult:
        """An access token for the AppID: proves AppID, AppSecret and (service accounts) the IP allow-list."""
        try:
            assert self.client.tokens is not None
            self.client.tokens.get()
        except VendorError as exc:
            return CheckResult(False, f"{self.options.token_api} failed: {exc}")
        return CheckResult(True, f"access token issued for AppID {self.options.app_id} ({self.options.token_api})")

    def perform(self, action: Action) -> ActionResult:
        performer = PERFORMERS.get(action.kind)
        if performer is None:
            return super().perform(action)
        return performer(self, action)

    def handle_callback(self, request: CallbackRequest) -> CallbackResult:
        return oa_callbacks.handle(self, request)


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(WeChatConnector)
