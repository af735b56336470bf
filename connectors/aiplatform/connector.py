"""The aiplatform connector: pull (cursor paging + updated_since), push (signed webhooks), actions.

Streams read `GET /v1/invitations` and `GET /v1/events` from the last listing's `as_of` minus an
overlap, page by page; each page ends in a checkpoint (resume mid-run), the last one carries the
watermark. Actions send the outbox idempotency key as `Idempotency-Key`, so a retried or replayed
call never creates a second invitation or a second reset.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from lifeline_hub.connectors.aiplatform import signing
from lifeline_hub.connectors.aiplatform.client import AIPlatformClient, ClientCredentials, ClientLimiter
from lifeline_hub.connectors.aiplatform.mapping import Item, event_records, invitation_records
from lifeline_hub.connectors.aiplatform.settings import AIPlatformSettings
from lifeline_hub.connectors.aiplatform.wire import NewInvitation, ReissueLink, WirePage
from lifeline_hub.core.connection_form import ConnectionForm
from lifeline_hub.core.connections import ConnectionNotFound, Credentials
from lifeline_hub.core.connector import (
    ActionResult,
    CallbackRejected,
    CallbackRequest,
    CallbackResult,
    Checkpoint,
    CheckResult,
    Connector,
    Malformed,
    StreamInfo,
    StreamItem,
    describe_error,
)
from lifeline_hub.core.http import InvalidRequest, Quota, TransientError, VendorError
from lifeline_hub.core.models import (
    Action,
    Attendance,
    Candidate,
    Interview,
    InterviewKind,
    LinkEvent,
    Notification,
    Record,
    parse_instant,
)
from lifeline_hub.core.receiver.untrusted import CallbackMalformed, load_json

log = logging.getLogger("lifeline.connectors.aiplatform")

Payload = TypeVar("Payload", bound=BaseModel)
Mapper = Callable[[Connector, Any], list[Item]]
LISTINGS: dict[str, tuple[str, Mapper, timedelta]] = {
    "interviews": ("/invitations", invitation_records, timedelta(0)),
    "events": ("/events", event_records, timedelta(minutes=5)),
}
"""Per stream: the listing, its mapping, and how late an item may be recorded after it happened
(client-reported problems, protocol §4.1): the watermark stays that far behind `as_of`."""


class AIPlatformConnector(Connector):
    name = "aiplatform"
    description = "Async AI/video interview platform (reference connector, protocol v1)"
    settings_model = AIPlatformSettings
    streams = (
        StreamInfo("interviews", (Interview, Candidate), "invitations: window, deadline basis, status, join link",
                   kinds=(InterviewKind.ai_async,)),
        StreamInfo("events", (Notification, LinkEvent, Attendance), "invites, opens, starts, submits, tech errors",
                   kinds=(InterviewKind.ai_async,)),
    )
    actions = ("create_invitation", "reissue_link")
    default_base_urls: ClassVar[Mapping[str, str]] = {"api": "https://api.aiplatform.example/v1"}
    emulator = "lifeline_hub.connectors.aiplatform.emulator:create_app"
    sandbox_actor = "lifeline_hub.connectors.aiplatform.sandbox:PlatformActor"
    connection_form = ConnectionForm(
        "aiplatform", "AI interview platform (Lifeline)", ("Client ID", "Client secret"),
        {"webhook_secret": "Webhook signing secret", "webhook_secret_previous": "Previous webhook secret (rotation)"})
    callback_kit: ClassVar[str] = "lifeline_hub.connectors.aiplatform.callback_kit:kit"
    settings: AIPlatformSettings

    @classmethod
    def emulator_connection(cls, world: Any) -> dict[str, Any]:
        """The emulated API client's id and secret, and the webhook secret."""
        s = world.settings
        return {"login": s.client_id, "password": s.client_secret, "extra": {"webhook_secret": s.webhook_secret}}

    # -- plumbing ---------------------------------------------------------------------------------

    def _credentials(self) -> Credentials:
        if self.credentials is None:
            raise ConnectionNotFound(f"{self.instance.name}: set connection_id (login = client id, "
                                     "password = client secret, extra webhook_secret)")
        return self.credentials

    @functools.cached_property
    def client(self) -> AIPlatformClient:
        creds, s = self._credentials(), self.settings
        client_id = str(creds.require("login"))
        client = AIPlatformClient(
            self.base_url("api"), app=client_id, limiter=ClientLimiter(),
            timeout=(s.connect_timeout_seconds, s.read_timeout_seconds), max_attempts=s.max_attempts,
            backoff=s.backoff_seconds,
        )
        client.tokens = ClientCredentials(client, client_id, str(creds.require("password")))
        return client

    @functools.cached_property
    def quota(self) -> Quota:
        return Quota(self.settings.requests_per_second, 1.0)

    def _call(self, method: str, path: str, api: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, api=api, quota=self.quota, **kwargs)

    def check(self) -> CheckResult:
        try:
            self._call("GET", "/invitations", "invitations.list", params={"limit": 1})
        except (VendorError, ConnectionNotFound) as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"token issued, invitations readable at {self.base_url('api')}")

    # -- pull -------------------------------------------------------------------------------------

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
        """Cursor: `since` (next updated_since), and mid-run `page` + `as_of` of the run's first page."""
        if stream not in LISTINGS:
            yield from super().read(stream, cursor)
            return
        path, mapper, lateness = LISTINGS[stream]
        since, page, as_of = cursor.get("since"), cursor.get("page"), cursor.get("as_of")
        while True:
            params: dict[str, Any] = {"limit": self.settings.page_size}
            if since:
                params["updated_since"] = since
            if page:
                params["cursor"] = page
            try:
                listing = self._page(self._call("GET", path, f"{stream}.list", params=params))
            except InvalidRequest as exc:
                if exc.code != "invalid_cursor" or not page:
                    raise
                log.warning("%s:%s: saved page cursor expired; re-reading from %s", self.instance.name, stream, since)
                page = as_of = None
                continue
            as_of = as_of or listing.as_of.isoformat()
            for raw in listing.data:
                yield from mapper(self, raw)
            if listing.next_cursor:
                page = listing.next_cursor
                yield Checkpoint({"since": since, "page": page, "as_of": as_of})
                continue
            complete = parse_instant(as_of)
            resume = complete - timedelta(seconds=self.settings.overlap_seconds)
            yield Checkpoint({"since": resume.isoformat()}, watermark=complete - lateness)
            return

    def _page(self, body: Any) -> WirePage:
        try:
            return WirePage.model_validate(body)
        except ValidationError as exc:
            raise TransientError(f"listing is not a page: {describe_error(exc)}", vendor=self.name) from None

    # -- actions ----------------------------------------------------------------------------------

    def perform(self, action: Action) -> ActionResult:
        if action.kind == "create_invitation":
            new = _payload(NewInvitation, action)
            body = new.model_dump(mode="json", exclude_none=True)
            body.setdefault("external_ref", action.interview_id)
            path, api = "/invitations", "invitations.create"
        elif action.kind == "reissue_link":
            reissue = _payload(ReissueLink, action)
            path = f"/invitations/{reissue.invitation_id or self._invitation_of(action)}/{reissue.mode}"
            body, api = reissue.body(), f"invitations.{reissue.mode}"
        else:
            return super().perform(action)
        result = self._call("POST", path, api, json=body, headers={"Idempotency-Key": action.idempotency_key},
                            idempotent=True)
        if not isinstance(result, dict) or not isinstance(result.get("id"), str):
            raise TransientError("the platform answered without an invitation id", vendor=self.name)
        link = result["link"] if isinstance(result.get("link"), dict) else {}
        detail = {"status": result.get("status"), "link_version": link.get("version"),
                  "deadline_at": result.get("deadline_at")}
        return ActionResult(remote_id=result["id"], detail=detail)

    def _invitation_of(self, action: Action) -> str:
        prefix = f"{self.instance.name}/"
        if action.interview_id and action.interview_id.startswith(prefix):
            return action.interview_id.removeprefix(prefix)
        raise InvalidRequest("reissue_link needs payload.invitation_id or an interview of this instance",
                             vendor=self.name)

    # -- push -------------------------------------------------------------------------------------

    def handle_callback(self, request: CallbackRequest) -> CallbackResult:
        event_id = signing.verify(self._webhook_secrets(), request.headers, request.body, request.received_at,
                                  self.settings.webhook_tolerance_seconds)
        try:
            payload = load_json(request.body)
        except ValueError:
            raise CallbackMalformed("body is not JSON") from None
        if not isinstance(payload, dict) or payload.get("id") != event_id:
            raise CallbackRejected("event id header and body disagree")
        items = event_records(self, payload)
        for bad in (i for i in items if isinstance(i, Malformed)):
            log.warning("%s: webhook event %s unreadable (%s); the events stream quarantines it",
                        self.instance.name, event_id, bad.reason)
        records = tuple(i for i in items if isinstance(i, Record))
        return CallbackResult(reply={"received": True}, event_id=event_id, records=records)

    def _webhook_secrets(self) -> list[str]:
        creds = self.credentials
        found = [str(creds.get(key)) for key in ("webhook_secret", "webhook_secret_previous")
                 if creds is not None and creds.get(key)]
        if not found:
            raise CallbackRejected("no webhook secret configured (connection extra webhook_secret)")
        return found


def _payload(model: type[Payload], action: Action) -> Payload:
    try:
        return model.model_validate(action.payload)
    except ValidationError as exc:
        raise InvalidRequest(f"{action.kind} payload: {describe_error(exc)}", vendor="aiplatform") from None

