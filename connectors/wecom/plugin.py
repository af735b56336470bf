"""The `wecom` connector: WeCom app messages to staff, customer-contact messages to candidates, callbacks.

Instance table (settings: `lifeline_hub.connectors.wecom.settings.WeComSettings`):

    [tenants.acme.connectors.wecom]
    plugin = "wecom"
    connection_id = "wecom_acme"
    corp_id = "ww..."
    agent_id = 1000002

Connection (`AIRFLOW_CONN_WECOM_ACME`): password = the self-built app's Secret; extras `contact_secret` (the
customer-contact Secret, when the app is not one of its callable apps), `callback_token` and
`callback_aes_key` (the app's receive-message Token and EncodingAESKey), e.g.
`{"conn_type": "wecom", "password": "<Secret>", "extra": {"callback_token": "...", "callback_aes_key": "<43>"}}`.
Base URL key `api` (default `https://qyapi.weixin.qq.com`).

Actions: `send_message` (audience candidate: customer contact, `contact.py`; otherwise staff app messages,
`staff.py`), `create_task` (a button card to the assignees, `staff.py`). Stream `contact_results`: the
outcome of staged customer-contact sends. Callbacks (`callbacks.py`): card clicks and contact changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from lifeline_hub.connectors.wecom import callbacks, contact, staff
from lifeline_hub.connectors.wecom.client import WECOM_HOST, WeComClient
from lifeline_hub.connectors.wecom.crypto import WXBizMsgCrypt
from lifeline_hub.connectors.wecom.settings import WeComSettings
from lifeline_hub.core.actions import SendMessage
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
    StreamInfo,
    StreamItem,
)
from lifeline_hub.core.hookspecs import hookimpl
from lifeline_hub.core.http import AuthFailed, VendorError
from lifeline_hub.core.models import Action, Audience, ChannelInfo, ContactChange, DeliveryEvent, Notification

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""
WECOM = ChannelInfo("wecom", "WeCom", "account", delivery_known=True, read_known=False, click_known=True,
                    labels=(("zh-CN", "企业微信"),))
"""A candidate who added a recruiter's WeCom as a WeChat contact (address: the external_userid). A customer-contact
send result says sent or not (delivery), never read."""

Performer = Callable[["WeComConnector", Action], ActionResult]
Reader = Callable[["WeComConnector", Mapping[str, Any]], Iterator[StreamItem]]


def _send_message(conn: WeComConnector, action: Action) -> ActionResult:
    """Candidates through customer contact, staff (HR, interviewers) through app messages."""
    if staff.payload(SendMessage, action).recipient_audience == Audience.candidate:
        return contact.send_message(conn, action)
    return staff.send_message(conn, action)


PERFORMERS: dict[str, Performer] = {"send_message": _send_message, "create_task": staff.create_task}
READERS: dict[str, Reader] = {"contact_results": contact.read_results}


class WeComConnector(Connector):
    name = "wecom"
    description = "WeCom (企业微信): app messages and cards to staff, customer-contact messages to candidates"
    settings_model = WeComSettings
    channels = (WECOM,)
    streams = (
        StreamInfo("contact_results", (Notification, DeliveryEvent, ContactChange),
                   "sent / not a contact / over quota of the customer-contact messages Lifeline staged", kinds=()),
    )
    actions = tuple(PERFORMERS)
    default_base_urls: ClassVar[Mapping[str, str]] = {"api": WECOM_HOST}
    emulator = "lifeline_hub.connectors.wecom.emulator:create_app"
    sandbox_actor = "lifeline_hub.connectors.wecom.sandbox:WeComActor"
    callback_kit: ClassVar[str] = "lifeline_hub.connectors.wecom.callback_kit:kit"
    connection_form = ConnectionForm(
        "wecom", "WeCom (Lifeline)", ("Login (not used)", "App Secret"),
        {"contact_secret": "Customer-contact Secret (optional)", "callback_token": "Receive-message Token",
         "callback_aes_key": "Receive-message EncodingAESKey"})

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any]:
        """The emulated corp's first app Secret, its customer-contact Secret and the callback Token and AES key
        (the corp id and AgentId are settings: `world.settings`)."""
        s = world.settings
        return {"login": None, "password": next(iter(s.apps.values())),
                "extra": {"contact_secret": s.contact_secret, "callback_token": s.callback_token,
                          "callback_aes_key": s.callback_aes_key}}

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        super().__init__(instance, settings, credentials, contacts)
        self.options = (settings if isinstance(settings, WeComSettings)
                        else WeComSettings.model_validate(settings.model_dump()))
        self._client: WeComClient | None = None
        self._contact_client: WeComClient | None = None

    # -- wiring ----------------------------------------------------------------------------------

    def _secret(self, key: str) -> str:
        """A connection field: `password` (the app Secret) or an extra."""
        if self.credentials is None:
            raise AuthFailed(f"{self.instance.name}: no connection configured (connection_id)", vendor="wecom")
        try:
            return str(self.credentials.require(key))
        except ConnectionNotFound as exc:
            raise AuthFailed(str(exc), vendor="wecom") from None

    def _build(self, secret: str) -> WeComClient:
        return WeComClient(self.base_url("api"), self.options.corp_id, secret,
                           member_per_minute=self.options.member_per_minute,
                           member_per_hour=self.options.member_per_hour,
                           timeout=(3.05, self.options.http_timeout_seconds))

    @property
    def client(self) -> WeComClient:
        """The app Secret's client (app messages, cards): token and member limits shared in the process."""
        if self._client is None:
            self._client = self._build(self._secret("password"))
        return self._client

    @property
    def contact_client(self) -> WeComClient:
        """The customer-contact client: the `contact_secret` extra's token, else the app's (a callable app)."""
        if self._contact_client is None:
            extra = self.credentials.extra.get("contact_secret") if self.credentials is not None else None
            self._contact_client = self._build(str(extra)) if extra else self.client
        return self._contact_client

    def callback_crypto(self) -> WXBizMsgCrypt:
        try:
            return WXBizMsgCrypt(self._secret("callback_token"), self._secret("callback_aes_key"),
                                 self.options.corp_id)
        except (VendorError, ValueError) as exc:
            raise CallbackRejected(f"callbacks are not configured: {exc}") from None

    # -- the contract ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """gettoken with the app Secret (and the customer-contact Secret when set): proves the corp id, the
        Secrets and the network path."""
        try:
            for client in dict.fromkeys((self.client, self.contact_client)):
                assert client.tokens is not None
                client.tokens.get()
        except VendorError as exc:
            return CheckResult(False, f"gettoken failed: {exc}")
        return CheckResult(True, f"gettoken ok for corp {self.options.corp_id}, app {self.options.agent_id}")

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        reader = READERS.get(stream)
        if reader is None:
            return super().read(stream, cursor)
        return reader(self, cursor)

    def perform(self, action: Action) -> ActionResult:
        performer = PERFORMERS.get(action.kind)
        if performer is None:
            return super().perform(action)
        return performer(self, action)

    def handle_callback(self, request: CallbackRequest) -> CallbackResult:
        return callbacks.handle(self, request)


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(WeComConnector)
