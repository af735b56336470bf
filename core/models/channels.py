"""Channels: a registry of the ways a message reaches a person, each saying what it can observe.

A channel is declared once as a `ChannelInfo`; the built-in ones below are registered at import,
a plugin adds its own by listing them in its connector class's `channels` (registered when the
class is defined, so they exist as soon as the plugin is loaded). Reconcile, reminders and the HR
texts read the declarations and never claim what a channel cannot observe: a read receipt on a
channel that does not know reads is no read (e-mail "opens" are scanners as often as people), a
delivered SMS is "delivered, read unknown", never "unread".

`Channel` is the channel name as a value: a `str` (stored as is) that only a registered name can
be, so a pydantic field `channel: Channel` accepts the built-in names and those of loaded plugins
and refuses anything else with the list of known channels. `Channel("sms") is Channel.sms`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

Address = Literal["phone", "email", "account"]
"""What a contact point on the channel holds: a phone number (E.164), an e-mail address, or a platform
account id (IM user id, openid: not personal data in itself, shown as is)."""
SendAction = Literal["send_sms", "send_email", "send_message"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ChannelInfo:
    """A channel and what Lifeline can learn about a message sent on it."""

    name: str
    """Lower-case identifier, stored with every notification and receipt (e.g. `wecom`)."""
    label: str
    """Display name in HR texts (English), e.g. `WeCom`."""
    address: Address
    delivery_known: bool
    """A receipt says whether a message reached the device or mailbox (SMS status reports: yes; SMTP
    acceptance: no). Where it is False, an accepted send is the most that is known, so it counts as
    delivered and no reminder waits for a receipt that never comes."""
    read_known: bool
    """A receipt says the person read it (DingTalk, Feishu read lists: yes; SMS: no; e-mail opens: no,
    mail scanners open them). Only these reads count as reach; elsewhere "unread" is never claimed."""
    click_known: bool
    """A message on it can carry a link (Lifeline's tracked join, confirm and reschedule links, or the
    vendor's own that reports opens), so clicks are observed. Where False (a voice call), no click is no
    evidence of anything, and no reminder or candidate message (they all carry links) goes on it."""
    send_action: SendAction | None = None
    """The action, with its shared payload, that sends candidates reminders and messages on this channel:
    `send_sms` (an approved template), `send_email` (text, links, calendar invitation) or `send_message` (an IM
    account: title, text and links to the contact point's value, the account id). `send_sms`/`send_email`: the
    tenant's first instance performing it reaches the channel; `send_message`: the connector named after the
    channel (or declaring it) does; `policy.candidate_connectors` may name another. None: `send_message` on an
    `account` channel, nothing on the others. See `candidate_action`."""
    labels: tuple[tuple[str, str], ...] = field(default=())
    """Display names by locale, e.g. `(("zh-CN", "企业微信"),)`; `label` for any other locale."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"channel name must be a lower-case identifier, got {self.name!r}")
        if self.address not in get_args(Address):
            raise ValueError(f"channel {self.name!r}: address must be one of {get_args(Address)}, got {self.address!r}")
        if self.send_action not in (None, *get_args(SendAction)):
            raise ValueError(f"channel {self.name!r}: send_action must be one of {get_args(SendAction)} or None, "
                             f"got {self.send_action!r}")

    @property
    def candidate_action(self) -> SendAction | None:
        """The action that sends candidates reminders and messages here (`send_action`, else `send_message` on an
        IM account); None where none can, or where a message cannot carry its links (`click_known` false)."""
        if not self.click_known:
            return None
        return self.send_action or ("send_message" if self.address == "account" else None)

    @property
    def channel(self) -> Channel:
        return Channel(self.name)

    def as_json(self) -> dict[str, Any]:
        """The declaration as JSON (`lifeline plugins --json`, the plugin manifest); `from_json` reads it back."""
        return {**asdict(self), "labels": [list(pair) for pair in self.labels]}

    @classmethod
    def from_json(cls, data: Any) -> ChannelInfo:
        """A declaration `as_json` wrote; ValueError or TypeError when it is not one."""
        fields = dict(data)
        fields["labels"] = tuple((str(locale), str(label)) for locale, label in fields.get("labels", ()))
        return cls(**fields)

    def label_for(self, locale: str) -> str:
        return dict(self.labels).get(locale, self.label)


_REGISTRY: dict[str, tuple[Channel, ChannelInfo]] = {}


class Channel(str):
    """A registered channel name (see the module docstring); the built-in ones are class attributes."""

    __slots__ = ()

    sms: ClassVar[Channel]
    email: ClassVar[Channel]
    voice: ClassVar[Channel]
    dingtalk: ClassVar[Channel]
    feishu: ClassVar[Channel]
    wechat: ClassVar[Channel]
    platform: ClassVar[Channel]
    """The interview platform's own invitation (e.g. an AI-interview vendor's e-mail)."""

    def __new__(cls, value: object) -> Channel:
        found = _REGISTRY.get(value) if isinstance(value, str) else None
        if found is None:
            raise ValueError(f"{value!r} is not a channel (known: {', '.join(_REGISTRY)}; a plugin adds one "
                             "by declaring it in its connector's `channels`)")
        return found[0]

    @property
    def value(self) -> str:
        """The stored name (as `Enum.value` gave it)."""
        return str.__str__(self)

    @property
    def info(self) -> ChannelInfo:
        return _REGISTRY[self][1]

    def __repr__(self) -> str:
        return f"Channel({self.value!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return Channel, (self.value,)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # checked when a value is validated, not when a model is defined: a plugin's channel validates once loaded
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema(when_used="json"))


def register_channel(info: ChannelInfo) -> Channel:
    """Add a channel; declaring one again is harmless when identical, an error when it says otherwise."""
    known = _REGISTRY.get(info.name)
    if known is not None:
        if known[1] != info:
            raise ValueError(f"channel {info.name!r} is already declared with other capabilities: "
                             f"{known[1]} (new: {info})")
        return known[0]
    channel = str.__new__(Channel, info.name)
    _REGISTRY[info.name] = (channel, info)
    return channel


def register_channels(infos: Iterable[ChannelInfo]) -> None:
    for info in infos:
        if not isinstance(info, ChannelInfo):
            raise TypeError(f"channels are declared as ChannelInfo, got {info!r}")
        register_channel(info)


def channels() -> tuple[Channel, ...]:
    """Every registered channel, the built-in ones first."""
    return tuple(channel for channel, _ in _REGISTRY.values())


def channel_info(name: str) -> ChannelInfo | None:
    """The declaration of a channel by its stored name; None for a name not registered (a plugin not loaded)."""
    found = _REGISTRY.get(name)
    return found[1] if found else None


def known_channel(name: str) -> Channel | None:
    """The channel of a stored name, or None when no loaded plugin declares it (reading old rows is no error)."""
    found = _REGISTRY.get(name)
    return found[0] if found else None


def read_known_channels() -> tuple[str, ...]:
    """The names of the channels whose read receipts are real: reconcile counts reads only on these."""
    return tuple(name for name, (_, info) in _REGISTRY.items() if info.read_known)


def send_actions() -> dict[str, str]:
    """channel name -> its `candidate_action`, for the channels that have one (the reminder channels)."""
    return {name: action for name, (_, info) in _REGISTRY.items() if (action := info.candidate_action)}


BUILTIN = (
    ChannelInfo("sms", "SMS", "phone", delivery_known=True, read_known=False, click_known=True,
                send_action="send_sms", labels=(("zh-CN", "短信"),)),
    ChannelInfo("email", "e-mail", "email", delivery_known=False, read_known=False, click_known=True,
                send_action="send_email", labels=(("zh-CN", "邮件"),)),
    ChannelInfo("voice", "call", "phone", delivery_known=True, read_known=False, click_known=False,
                labels=(("zh-CN", "电话"),)),
    ChannelInfo("dingtalk", "DingTalk", "account", delivery_known=True, read_known=True, click_known=True,
                labels=(("zh-CN", "钉钉"),)),
    ChannelInfo("feishu", "Feishu", "account", delivery_known=True, read_known=True, click_known=True,
                labels=(("zh-CN", "飞书"),)),
    ChannelInfo("wechat", "WeChat", "account", delivery_known=True, read_known=False, click_known=True,
                labels=(("zh-CN", "微信"),)),
    ChannelInfo("platform", "the platform", "account", delivery_known=False, read_known=False, click_known=True,
                labels=(("zh-CN", "面试平台"),)),
)
"""sms: Aliyun SmsReport / QuerySendDetails say delivered or failed, nothing about reading. email: an SMTP
server's acceptance and DSN bounces; opens are not reads. voice: a call is answered or not. dingtalk,
feishu: work notifications and messages have read lists. wechat: `subscribe_msg_sent_event` reports the
send result, no reads. platform: the interview vendor's own invitation, its opens come as link events."""

for _info in BUILTIN:
    setattr(Channel, _info.name, register_channel(_info))
