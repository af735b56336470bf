"""The `aliyun_sms` connector and its registration through the `lifeline` entry points.

Connection (Airflow Connection / `AIRFLOW_CONN_<ID>`): `login` = AccessKeyId, `password` =
AccessKeySecret (a RAM user with `AliyunDysmsFullAccess`); extras `security_token` (STS, optional)
and `push_token` (the secret in the receipt push URL, optional). Base URL key `api`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel

from lifeline_hub.connectors.aliyun_sms import push, receipts, send
from lifeline_hub.connectors.aliyun_sms.client import ALIYUN_HOST, AliyunSmsClient
from lifeline_hub.connectors.aliyun_sms.records import send_date
from lifeline_hub.connectors.aliyun_sms.settings import AliyunSmsSettings
from lifeline_hub.core import (
    ActionResult,
    CallbackRequest,
    CallbackResult,
    CheckResult,
    Connector,
    Credentials,
    Instance,
    StreamInfo,
    StreamItem,
    hookimpl,
)
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connections import ConnectionNotFound
from lifeline_hub.core.connector import ContactBook
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import Action, DeliveryEvent, utcnow

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""


class AliyunSmsConnector(Connector):
    """Aliyun SMS for one account: candidate reminders and offers, delivery receipts."""

    name = "aliyun_sms"
    description = "Aliyun SMS (Dysmsapi): templated candidate SMS, receipts by QuerySendDetails and SmsReport push"
    settings_model = AliyunSmsSettings
    streams = (StreamInfo("receipts", (DeliveryEvent,), "delivery receipts of Lifeline's SMS (QuerySendDetails)"),)
    actions = ("send_sms",)
    default_base_urls: ClassVar[Mapping[str, str]] = {"api": ALIYUN_HOST}
    emulator = "lifeline_hub.connectors.aliyun_sms.emulator:create_app"
    sandbox_actor = "lifeline_hub.connectors.aliyun_sms.sandbox:SmsActor"
    callback_kit: ClassVar[str] = "lifeline_hub.connectors.aliyun_sms.callback_kit:kit"
    connection_form = ConnectionForm(
        "aliyun_sms", "Aliyun SMS (Lifeline)", ("AccessKey ID", "AccessKey secret"),
        {"security_token": "STS security token (temporary keys)", "push_token": "Receipt push token"})

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any]:
        """The emulated account's first AccessKey (id as `login`, secret as `password`)."""
        key_id, secret = next(iter(world.settings.access_keys.items()))
        return {"login": key_id, "password": secret, "extra": {}}

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        super().__init__(instance, settings, credentials, contacts)
        assert isinstance(settings, AliyunSmsSettings)
        self.config: AliyunSmsSettings = settings
        self.clock: Callable[[], datetime] = utcnow
        """Wall clock for send dates and receipt windows; tests pin it."""
        self._client: AliyunSmsClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> AliyunSmsClient:
        """The instance's HTTP client (one rate limiter for all threads)."""
        with self._lock:
            if self._client is None:
                if self.credentials is None:
                    raise ConnectionNotFound(f"{self.instance.name}: no connection_id configured (AccessKeyId/Secret)")
                self._client = AliyunSmsClient(
                    self.base_url("api"), str(self.credentials.require("login")),
                    str(self.credentials.require("password")), signature=self.config.signature_version,
                    security_token=self.credentials.get("security_token"),
                    timeout=(3.05, self.config.http_timeout_seconds),
                )
            return self._client

    def check(self) -> CheckResult:
        """A QuerySendDetails for a reserved test number: proves the key and the signing."""
        try:
            list(self.client.send_details("13800000000", send_date(self.clock())))
        except (VendorError, ConnectionNotFound) as exc:
            return CheckResult(False, f"QuerySendDetails failed: {exc}")
        return CheckResult(True, f"signed QuerySendDetails ok at {self.base_url('api')}")

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        if stream != "receipts":
            return super().read(stream, cursor)
        return receipts.read_receipts(self, cursor)

    def perform(self, action: Action) -> ActionResult:
        if action.kind != "send_sms":
            return super().perform(action)
        return send.perform(self, action)

    def handle_callback(self, request: CallbackRequest) -> CallbackResult:
        return push.handle(self, request)


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(AliyunSmsConnector)
