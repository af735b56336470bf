"""The DingTalk connector plugin: streams, actions and callbacks of one DingTalk internal app.

Instance table (settings: `lifeline_hub.connectors.dingtalk.settings.DingTalkSettings`):

    [tenants.acme.connectors.dt]
    plugin = "dingtalk"
    connection_id = "dingtalk_acme"
    base_urls = { oapi = "https://oapi.dingtalk.com", api = "https://api.dingtalk.com" }
    corp_id = "ding..."
    agent_id = 3000000001

Connection (`AIRFLOW_CONN_DINGTALK_ACME`): login = AppKey, password = AppSecret, extras
`callback_token` and `callback_aes_key` (event subscription), e.g.
`{"conn_type": "dingtalk", "login": "<AppKey>", "password": "<AppSecret>",
"extra": {"callback_token": "...", "callback_aes_key": "<43 chars>"}}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from lifeline_hub.connectors.dingtalk import actions as sinks
from lifeline_hub.connectors.dingtalk import callbacks, receipts, streams
from lifeline_hub.connectors.dingtalk.client import DingTalkHttp
from lifeline_hub.connectors.dingtalk.crypto import DingTalkCrypto
from lifeline_hub.connectors.dingtalk.settings import DingTalkSettings
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
from lifeline_hub.core.models import Action, Attendance, DeliveryEvent, Interview, Notification, RescheduleRequest

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""

Reader = Callable[["DingTalkConnector", Mapping[str, Any]], Iterator[StreamItem]]
READERS: dict[str, Reader] = {
    "receipts": receipts.read_receipts,
    "interviews": streams.read_interviews,
    "calendar": streams.read_calendar,
    "tasks": streams.read_tasks,
    "attendance": streams.read_attendance,
}


class DingTalkConnector(Connector):
    name = "dingtalk"
    description = "DingTalk (钉钉): work notices, robot and DING messages, todos, calendar, approvals, recruiting"
    settings_model = DingTalkSettings
    streams = (
        StreamInfo("receipts", (Notification, DeliveryEvent),
                   "delivered/read/failed state of the work notices, robot messages and DINGs Lifeline sent"),
        StreamInfo("interviews", (Interview,), "recruiting (ATS) interviews of candidates whose flows changed"),
        StreamInfo("calendar", (Interview, Attendance),
                   "interview events on calendars: check-ins and declines (interviewer side), unmarked events",
                   candidate_attendance=False),
        StreamInfo("tasks", (Notification, DeliveryEvent, RescheduleRequest),
                   "state of the todos (HR tasks) and approval instances Lifeline created"),
        StreamInfo("attendance", (Attendance,), "interviewers' approved leave and absence (cause signals)",
                   kinds=()),
    )
    actions = tuple(sinks.PERFORMERS)
    default_base_urls: ClassVar[Mapping[str, str]] = {
        "oapi": "https://oapi.dingtalk.com", "api": "https://api.dingtalk.com"}
    emulator = "lifeline_hub.connectors.dingtalk.emulator:create_app"
    sandbox_actor = "lifeline_hub.connectors.dingtalk.sandbox:DingTalkActor"
    connection_form = ConnectionForm(
        "dingtalk", "DingTalk (Lifeline)", ("AppKey", "AppSecret"),
        {"callback_token": "Event subscription token", "callback_aes_key": "Event subscription EncodingAESKey"})
    callback_kit: ClassVar[str] = "lifeline_hub.connectors.dingtalk.callback_kit:kit"
    event_stream: ClassVar[str] = "lifeline_hub.connectors.dingtalk.stream:link"

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any]:
        """The emulated org's first app (AppKey/AppSecret) and its callback token and AES key."""
        s, app = world.settings, world.settings.apps[0]
        return {"login": app.appkey, "password": app.appsecret,
                "extra": {"callback_token": s.callback_token, "callback_aes_key": s.callback_aes_key}}

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        super().__init__(instance, settings, credentials, contacts)
        self.options = (settings if isinstance(settings, DingTalkSettings)
                        else DingTalkSettings.model_validate(settings.model_dump()))
        self._http: DingTalkHttp | None = None

    # -- wiring ----------------------------------------------------------------------------------

    def _secret(self, key: str) -> str:
        """A connection field: `login` (AppKey), `password` (AppSecret) or an extra."""
        if self.credentials is None:
            raise AuthFailed(f"{self.instance.name}: no connection configured (connection_id)", vendor="dingtalk")
        try:
            return str(self.credentials.require(key))
        except ConnectionNotFound as exc:
            raise AuthFailed(str(exc), vendor="dingtalk") from None

    @property
    def appkey(self) -> str:
        return self._secret("login")

    @property
    def robot_code(self) -> str:
        return self.options.robot_code or self.appkey

    @property
    def http(self) -> DingTalkHttp:
        """The app's clients for both hosts (tokens, retries, the per-API rate limiter), built on first use."""
        if self._http is None:
            self._http = DingTalkHttp.build(
                oapi_url=self.base_url("oapi"), api_url=self.base_url("api"), appkey=self.appkey,
                appsecret=self._secret("password"), qps=self.options.qps_per_api,
                timeout=(3.05, self.options.read_timeout_seconds))
        return self._http

    def callback_crypto(self) -> DingTalkCrypto:
        try:
            return DingTalkCrypto(self._secret("callback_token"), self._secret("callback_aes_key"),
                                  self.options.callback_owner_key or self.appkey)
        except (VendorError, ValueError) as exc:
            raise CallbackRejected(f"callbacks are not configured: {exc}") from None

    # -- the contract ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        try:
            for client in (self.http.oapi, self.http.api):
                if client.tokens is not None:
                    client.tokens.get()
        except VendorError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"both tokens issued for app {self.appkey} (corp {self.options.corp_id})")

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        reader = READERS.get(stream)
        if reader is None:
            return super().read(stream, cursor)
        return reader(self, cursor)

    def perform(self, action: Action) -> ActionResult:
        performer = sinks.PERFORMERS.get(action.kind)
        if performer is None:
            return super().perform(action)
        return performer(self, action)

    def handle_callback(self, request: CallbackRequest) -> CallbackResult:
        return callbacks.handle(self, request)


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(DingTalkConnector)
