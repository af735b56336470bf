"""The `wecom_notify` connector: WeCom app messages (`message/send`) to corp members, and the `wecom_notify` channel.

Lifeline's built-in `wecom` plugin (customer contact, cards, callbacks) holds the names `wecom`; this out-of-tree
example uses its own connector, entry point, channel and connection type, so both can be installed side by side.

Connection (an Airflow Connection, or `AIRFLOW_CONN_<ID>`): `password` = the self-built app's Secret; the corp
id and AgentId are settings. Base URL key `api` (default `https://qyapi.weixin.qq.com`).

What WeCom tells us (wecom-wechat.md §1, §4.1): an accepted send and the userids it could not reach
(`invaliduser`, `unlicenseduser`), nothing more. There is no delivery or read receipt for app messages, so
the connector has no stream: each recipient gets a `Notification` (sent, or failed for the userids WeCom
refused, with a failed `DeliveryEvent`), and the `wecom_notify` channel declares that delivery and reads are
unknown (reconcile then never calls a WeCom message "unread"). Clicks on Lifeline's tracked links in the
message are observed by Lifeline itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from lifeline_hub.core.api import (
    Action,
    ActionResult,
    ChannelInfo,
    CheckResult,
    ConnectionForm,
    ConnectionNotFound,
    Connector,
    ContactBook,
    Credentials,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Instance,
    InvalidRequest,
    Notification,
    NotificationPurpose,
    Record,
    SendMessage,
    VendorError,
    canonical_id,
    hookimpl,
    utcnow,
)

from lifeline_wecom_notify.client import WECOM_HOST, NobodyToSend, WeComClient
from lifeline_wecom_notify.settings import WeComSettings

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API this plugin is built for (`lifeline_hub.core.api.PLUGIN_API`)."""
CHANNEL = ChannelInfo("wecom_notify", "WeCom app message", "account", delivery_known=False, read_known=False,
                      click_known=True, labels=(("zh-CN", "企业微信应用消息"),))
"""A corp member reached by userid through the app (address: the userid). Named after the connector: Lifeline
reaches an IM channel through the connector of the channel's name (or the instance `policy.candidate_connectors`
names)."""
MAX_USERS = 1000
"""`touser` takes at most 1000 userids (doc 90236)."""
LIMITS = {"title": 128, "description": 512, "content": 2048}
"""Byte limits of textcard title and description and of text content (doc 90236)."""


class WeComNotifyConnector(Connector):
    """One WeCom app: messages to staff (HR, interviewers) by userid."""

    name = "wecom_notify"
    description = "WeCom app messages (message/send) to staff by userid; WeCom reports no delivery or read"
    settings_model = WeComSettings
    actions = ("send_message",)
    channels = (CHANNEL,)
    connection_form = ConnectionForm("wecom_notify", "WeCom app messages (Lifeline example)",
                                     labels=("Login (not used)", "App Secret"))
    default_base_urls: ClassVar[Mapping[str, str]] = {"api": WECOM_HOST}
    emulator = "lifeline_wecom_notify.emulator:create_app"

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any]:
        """The emulated app's Secret (the corp id and AgentId are settings: `world.settings`)."""
        secret = next(iter(world.settings.apps.values()))
        return {"login": world.settings.corp_id, "password": secret, "extra": {}}

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        super().__init__(instance, settings, credentials, contacts)
        assert isinstance(settings, WeComSettings)
        self.config: WeComSettings = settings
        self._client: WeComClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> WeComClient:
        """The app's client: one token cache and one rate limiter for all threads of this instance."""
        with self._lock:
            if self._client is None:
                if self.credentials is None:
                    raise ConnectionNotFound(f"{self.instance.name}: no connection_id configured (the app Secret)")
                self._client = WeComClient(self.base_url("api"), self.config.corp_id,
                                           str(self.credentials.require("password")),
                                           timeout=(3.05, self.config.http_timeout_seconds))
            return self._client

    def check(self) -> CheckResult:
        """gettoken with the app's Secret: proves the corp id, the Secret and the network path."""
        try:
            assert self.client.tokens is not None
            self.client.tokens.get()
        except (VendorError, ConnectionNotFound) as exc:
            return CheckResult(False, f"gettoken failed: {exc}")
        return CheckResult(True, f"gettoken ok for corp {self.config.corp_id} at {self.base_url('api')}")

    def perform(self, action: Action) -> ActionResult:
        if action.kind != "send_message":
            return super().perform(action)
        payload = SendMessage.model_validate(action.payload)
        members = list(dict.fromkeys(payload.recipients))
        if len(members) > MAX_USERS:
            raise InvalidRequest(f"{len(members)} recipients; WeCom takes at most {MAX_USERS}", vendor="wecom")
        message = self.message(payload, members)
        try:
            body = self.client.send(message, members, self.config.member_per_minute)
        except NobodyToSend as exc:
            return self.result(action, payload, members, {m.lower(): "81013" for m in members}, None, str(exc))
        refused = {m.lower(): "invaliduser" for m in userids(body.get("invaliduser"))}
        refused |= {m.lower(): "unlicenseduser" for m in userids(body.get("unlicenseduser"))}
        msgid = str(body.get("msgid") or "") or None
        return self.result(action, payload, members, refused, msgid, None)

    def message(self, payload: SendMessage, members: list[str]) -> dict[str, Any]:
        """The `message/send` body: a textcard opening the first link, else text with the links inline."""
        card = self.config.message_type == "textcard" and bool(payload.links)
        if card:
            more = "".join(f"\n{link.label}: {link.url}" for link in payload.links[1:])
            body: dict[str, Any] = {"msgtype": "textcard", "textcard": {
                "title": fits(payload.title, "title"), "description": fits(payload.text + more, "description"),
                "url": payload.links[0].url}}
        else:
            links = "".join(f'\n<a href="{link.url}">{link.label}</a>' for link in payload.links)
            body = {"msgtype": "text", "text": {"content": fits(f"{payload.title}\n{payload.text}{links}", "content")}}
        return {"touser": "|".join(members), "agentid": self.config.agent_id, **body,
                "enable_duplicate_check": 1, "duplicate_check_interval": self.config.duplicate_check_interval}

    def result(self, action: Action, payload: SendMessage, members: list[str], refused: Mapping[str, str],
               msgid: str | None, error: str | None) -> ActionResult:
        """A `Notification` per member (failed for those WeCom refused, with a failed `DeliveryEvent`)."""
        now = utcnow()
        records: list[Record] = []
        for member in members:
            code = refused.get(member.lower())
            remote_id = f"{action.idempotency_key}/{member}"
            records.append(Notification(
                source=self.instance.name, remote_id=remote_id, interview_id=payload.interview_id, occurred_at=now,
                purpose=NotificationPurpose(payload.purpose), channel=CHANNEL.channel, recipient=member,
                audience=payload.recipient_audience, status=DeliveryStatus.failed if code else DeliveryStatus.sent,
                status_raw=code or "ok", idempotency_key=action.idempotency_key))
            if code:
                records.append(DeliveryEvent(
                    source=self.instance.name, remote_id=f"{remote_id}/failed", interview_id=payload.interview_id,
                    occurred_at=now, notification_id=canonical_id(self.instance.name, remote_id),
                    type=DeliveryType.failed, channel=CHANNEL.channel, code=code, status_raw=code))
        detail = {"msgid": msgid, "refused": sorted(refused)} | ({"error": error} if error else {})
        return ActionResult(remote_id=msgid or action.idempotency_key, detail=detail, records=tuple(records))


def userids(value: Any) -> list[str]:
    """`invaliduser`-style lists: `"a|b"` as documented, `[]` in some error bodies (wecom-wechat.md §4.1)."""
    if isinstance(value, str):
        return [part for part in value.split("|") if part]
    if isinstance(value, list):
        return [str(part) for part in value if part]
    return []


def fits(text: str, field: str) -> str:
    """`text` when it is within WeCom's byte limit for `field`; else the payload must change (never cut silently)."""
    size, limit = len(text.encode()), LIMITS[field]
    if not text.strip():
        raise InvalidRequest(f"{field} is empty (WeCom answers 44004)", vendor="wecom")
    if size > limit:
        raise InvalidRequest(f"{field} is {size} bytes; WeCom takes at most {limit}", vendor="wecom")
    return text


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(WeComNotifyConnector)
