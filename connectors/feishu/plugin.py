"""The `feishu` connector (Feishu and Lark) and its registration through the `lifeline` entry points.

Connection (Airflow Connection / `AIRFLOW_CONN_<ID>`): `login` = App ID (`cli_…`), `password` =
App Secret; extras `encrypt_key` and `verification_token` from the app's event subscription page
(needed only for callbacks). Streams, actions and callbacks live in their own modules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from lifeline_hub.connectors.feishu import streams
from lifeline_hub.connectors.feishu.actions import perform
from lifeline_hub.connectors.feishu.callbacks import handle
from lifeline_hub.connectors.feishu.client import FEISHU_HOST, LARK_HOST, FeishuClient, make_client
from lifeline_hub.connectors.feishu.common import FeishuSettings
from lifeline_hub.connectors.feishu.crypto import FeishuEventCrypto
from lifeline_hub.connectors.feishu.receipts import read_receipts
from lifeline_hub.core import (
    ActionResult,
    CallbackRejected,
    CallbackRequest,
    CallbackResult,
    Checkpoint,
    CheckResult,
    Connector,
    Credentials,
    Instance,
    Malformed,
    StreamInfo,
    StreamItem,
    hookimpl,
)
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connector import ContactBook
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import (
    Action,
    Attendance,
    AttendanceReport,
    Candidate,
    Confirmation,
    DeliveryEvent,
    Interview,
    InterviewKind,
    RescheduleRequest,
    utcnow,
)

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""

Reader = Callable[["FeishuConnector", Mapping[str, Any]], Iterator[StreamItem]]
READERS: dict[str, Reader] = {
    "interviews": streams.read_interviews,
    "rsvps": streams.read_rsvps,
    "receipts": read_receipts,
    "attendance": streams.read_attendance,
    "tasks": streams.read_tasks,
    "approvals": streams.read_approvals,
}


class FeishuConnector(Connector):
    """Feishu / Lark Open Platform for one internal app of one tenant."""

    name = "feishu"
    description = "Feishu/Lark: Hire interviews, RSVPs, read receipts, VC attendance, tasks, approvals"
    settings_model = FeishuSettings
    streams = (
        StreamInfo("interviews", (Interview, Candidate, AttendanceReport),
                   "Hire interviews around now (moved ones followed by application), their talents and the "
                   "interviewers' submitted feedback (attended / no-show)"),
        StreamInfo("rsvps", (Confirmation,), "external attendees' RSVPs on Lifeline's calendar events"),
        StreamInfo("receipts", (DeliveryEvent,), "read_users of the bot's messages until each is settled"),
        StreamInfo("attendance", (Attendance,), "VC participants of Lifeline's calendar meetings",
                   kinds=(InterviewKind.video,)),
        StreamInfo("tasks", (DeliveryEvent,), "completion of Lifeline's Task v2 tasks (tasklist)"),
        StreamInfo("approvals", (RescheduleRequest,), "status of approval v4 instances Lifeline started"),
    )
    actions = ("send_message", "create_task", "create_approval", "create_calendar_event", "update_calendar_event")
    default_base_urls: ClassVar[Mapping[str, str]] = {"open": FEISHU_HOST}
    emulator = "lifeline_hub.connectors.feishu.emulator:create_app"
    sandbox_actor = "lifeline_hub.connectors.feishu.sandbox:FeishuActor"
    event_stream: ClassVar[str] = "lifeline_hub.connectors.feishu.longconn:link"
    connection_form = ConnectionForm(
        "feishu", "Feishu / Lark (Lifeline)", ("App ID", "App Secret"),
        {"encrypt_key": "Event Encrypt Key", "verification_token": "Event Verification Token"})

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any]:
        """The emulated app's App ID/Secret and its event encrypt key and verification token."""
        s = world.settings
        return {"login": s.app_id, "password": s.app_secret,
                "extra": {"encrypt_key": s.encrypt_key, "verification_token": s.verification_token}}
    callback_kit: ClassVar[str] = "lifeline_hub.connectors.feishu.callback_kit:kit"

    def __init__(
        self,
        instance: Instance,
        settings: BaseModel,
        credentials: Credentials | None,
        contacts: ContactBook | None = None,
    ) -> None:
        super().__init__(instance, settings, credentials, contacts)
        assert isinstance(settings, FeishuSettings)
        self.config: FeishuSettings = settings
        self.clock: Callable[[], float] = lambda: utcnow().timestamp()
        """Now (epoch seconds) for windows and schedules: `utcnow`, which the sandbox moves; tests pin it."""
        self._client: FeishuClient | None = None
        self._lock = threading.Lock()

    @property
    def host_url(self) -> str:
        """The configured `open` base URL; the default Feishu host becomes Lark's with `host = "lark"`."""
        url = self.base_url("open")
        if url == FEISHU_HOST and self.config.host == "lark":
            return LARK_HOST
        return url

    @property
    def app_id(self) -> str:
        return str(self._credentials().require("login"))

    @property
    def client(self) -> FeishuClient:
        """The instance's HTTP client (one token cache and rate limiter for all threads)."""
        with self._lock:
            if self._client is None:
                creds = self._credentials()
                self._client = make_client(
                    self.host_url,
                    str(creds.require("login")),
                    str(creds.require("password")),
                    timeout=self.config.http_timeout_seconds,
                )
            return self._client

    def event_crypto(self) -> FeishuEventCrypto:
        """The app's event crypto: the verification token always; the Encrypt Key when the app set one
        (without it Feishu posts plain, unsigned bodies and only the token is checked, reference §9)."""
        creds = self._credentials()
        key, token = creds.get("encrypt_key"), creds.get("verification_token")
        if not token:
            raise CallbackRejected("connection lacks verification_token: callbacks are not configured")
        return FeishuEventCrypto(str(key) if key else None, str(token))

    def _credentials(self) -> Credentials:
        if self.credentials is None:
            raise ValueError(f"{self.instance.name}: no connection_id configured (App ID and App Secret)")
        return self.credentials

    # -- the contract ----------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        try:
            assert self.client.tokens is not None
            self.client.tokens.get()
        except (VendorError, ValueError) as exc:
            return CheckResult(False, f"tenant_access_token failed: {exc}")
        return CheckResult(True, f"tenant_access_token ok for app {self.app_id} at {self.host_url}")

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        reader = READERS.get(stream)
        if reader is None:
            return super().read(stream, cursor)
        return honest(reader(self, cursor))

    def perform(self, action: Action) -> ActionResult:
        return perform(self, action)

    def handle_callback(self, request: CallbackRequest) -> CallbackResult:
        return handle(self, request)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


def honest(items: Iterator[StreamItem]) -> Iterator[StreamItem]:
    """Pass a stream through; once a record had to be quarantined, later checkpoints keep their
    cursor but claim no watermark (that record's data is missing until a later run reads it)."""
    clean = True
    for item in items:
        if isinstance(item, Malformed):
            clean = False
        elif isinstance(item, Checkpoint) and not clean and item.watermark is not None:
            item = Checkpoint(item.cursor)
        yield item


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(FeishuConnector)
