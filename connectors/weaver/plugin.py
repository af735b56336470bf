"""The `weaver` connector: Weaver (泛微) e-cology 9 OA for HR on Weaver (weaver-oa.md; docs/weaver.md).

Instance table (settings: `lifeline_hub.connectors.weaver.settings.WeaverSettings`):

    [tenants.acme.connectors.weaver]
    plugin = "weaver"
    connection_id = "weaver_acme"
    base_urls = { oa = "https://oa.acme.example" }
    actor_userid = "101"
    ofs_syscode = "lifeline"
    message_source_code = "559"
    workflow = { workflow_id = 1001, fields = { candidate = "candidate", reference = "lifeline_ref" } }

Connection (`AIRFLOW_CONN_WEAVER_ACME`): login = the APPID registered in ECOLOGY_BIZ_EC; optional extras `spk` and
`secret` (the `secrit` of a registration made by hand), e.g. `{"conn_type": "weaver", "login": "<APPID>"}`.

Actions: `create_approval` (a reschedule approval workflow, `workflow.py`), `create_task` (a unified todo, plus
the HR text as a notice), `close_task` (the todo handled or removed), `send_message` (message center,
`notices.py`). Stream `workflows`: the approvals' results and the approvers' read state. e-cology pushes nothing
(no webhooks): everything is polled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from lifeline_hub.connectors.weaver import notices, workflow
from lifeline_hub.connectors.weaver.client import VENDOR, WeaverClient
from lifeline_hub.connectors.weaver.registration import Registration, RegistrationFile
from lifeline_hub.connectors.weaver.settings import WeaverSettings, WorkflowForm
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import (
    ActionResult,
    CheckResult,
    Connector,
    ContactBook,
    Instance,
    StreamInfo,
    StreamItem,
)
from lifeline_hub.core.hookspecs import hookimpl
from lifeline_hub.core.http import AuthFailed, InvalidRequest, VendorError
from lifeline_hub.core.models import Action, DeliveryEvent, Notification, RescheduleRequest

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""

Performer = Callable[["WeaverConnector", Action], ActionResult]
PERFORMERS: dict[str, Performer] = {
    "create_approval": workflow.create_approval, "create_task": notices.create_task,
    "close_task": notices.close_task, "send_message": notices.send_message,
}


class WeaverConnector(Connector):
    name = "weaver"
    description = "Weaver (泛微) e-cology OA: reschedule approval workflows, unified todos, message-center notices"
    settings_model = WeaverSettings
    channels = (notices.WEAVER,)
    streams = (
        StreamInfo("workflows", (RescheduleRequest, Notification, DeliveryEvent),
                   "results of the approval workflows Lifeline started and their approvers' read state", kinds=()),
    )
    actions = tuple(PERFORMERS)
    default_base_urls: ClassVar[Mapping[str, str]] = {"oa": "https://oa.example.invalid"}
    emulator = "lifeline_hub.connectors.weaver.emulator:create_app"
    sandbox_actor = "lifeline_hub.connectors.weaver.sandbox:WeaverActor"
    connection_form = ConnectionForm("weaver", "Weaver e-cology (Lifeline)", ("APPID", "Password (not used)"),
                                     {"secret": "Registered secrit (optional, with extra spk)"})

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any]:
        """The emulated site's first registered APPID (it registers itself: no secret to hand over)."""
        return {"login": world.settings.appids[0], "password": None, "extra": {}}

    def __init__(self, instance: Instance, settings: BaseModel, credentials: Credentials | None,
                 contacts: ContactBook | None = None) -> None:
        super().__init__(instance, settings, credentials, contacts)
        self.options = (settings if isinstance(settings, WeaverSettings)
                        else WeaverSettings.model_validate(settings.model_dump()))
        self._client: WeaverClient | None = None

    # -- wiring ----------------------------------------------------------------------------------

    @property
    def client(self) -> WeaverClient:
        """The site's client (one token and rate limiter per site and APPID in the process), built on first use."""
        if self._client is None:
            if self.credentials is None or not self.credentials.login:
                raise AuthFailed(f"{self.instance.name}: no connection with the APPID (connection_id, login)",
                                 vendor=VENDOR)
            extra = self.credentials.extra
            given = (Registration(str(extra["spk"]), str(extra["secret"]))
                     if extra.get("spk") and extra.get("secret") else None)
            self._client = WeaverClient(
                self.base_url("oa"), str(self.credentials.login),
                registrations=RegistrationFile(Path(self.options.registration_file)), given=given,
                token_seconds=self.options.token_seconds, calls_per_second=self.options.calls_per_second,
                timeout=(3.05, self.options.http_timeout_seconds))
        return self._client

    @property
    def form(self) -> WorkflowForm:
        if self.options.workflow is None:
            raise InvalidRequest(f"{self.instance.name}: set `workflow` (workflow id and form columns) to start "
                                 "approvals", vendor=VENDOR)
        return self.options.workflow

    # -- the contract ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """regist (only when no pair is kept) and applytoken: proves the APPID, the pair and the network path."""
        try:
            self.client.weaver_tokens.get()
        except VendorError as exc:
            return CheckResult(False, f"applytoken failed: {exc}")
        return CheckResult(True, f"regist pair kept and token applied at {self.client.base_url}")

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        if stream != "workflows":
            return super().read(stream, cursor)
        return workflow.read_workflows(self, cursor)

    def perform(self, action: Action) -> ActionResult:
        performer = PERFORMERS.get(action.kind)
        if performer is None:
            return super().perform(action)
        return performer(self, action)


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(WeaverConnector)
