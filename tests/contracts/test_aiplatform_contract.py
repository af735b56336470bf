"""aiplatform emulator against docs/aiplatform-protocol.md: every response it serves, every webhook it sends.

No official SDK exists: `aiplatform_schemas.json` holds the protocol as JSON Schema, one entry per route
and for the webhook delivery, each with the section it comes from. The emulator is driven over loopback
through the connector's own operations (check, both streams, both actions) and direct calls for the
error envelopes; then each answer in `world.served` is checked against its route's schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute

from lifeline_hub.connectors.aiplatform.connector import AIPlatformConnector
from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld, EmulatorSettings, create_app
from lifeline_hub.connectors.aiplatform.settings import AIPlatformSettings
from lifeline_hub.core.connector import CallbackRequest, Checkpoint, Credentials, Instance, Malformed
from lifeline_hub.core.emulator import Faults, LoopbackServer, Served
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import Action, utcnow

SCHEMAS = json.loads(Path(__file__).with_name("aiplatform_schemas.json").read_text(encoding="utf-8"))
ERROR_CODES: dict[int, set[str]] = {
    400: {"invalid_request", "invalid_cursor"},
    401: {"invalid_client", "invalid_token", "token_expired"},
    403: {"insufficient_scope"},
    404: {"not_found"},
    405: {"invalid_request"},
    409: {"invitation_closed", "reset_limit_reached"},
    422: {"idempotency_key_reused"},
    429: {"rate_limited"},
    500: {"internal_error", "unavailable"},
    503: {"internal_error", "unavailable"},
}
"""docs/aiplatform-protocol.md §2.2: the codes each status may carry."""
CLIENT_SECRET = EmulatorSettings().client_secret
NEW = {"candidate": {"name": "张三", "email": "zhang@example.com", "external_ref": "cand-9"},
       "external_ref": "app-9", "deadline_basis": "from_invite", "window_hours": 48}


def schema(name: str) -> dict[str, Any]:
    return {"$defs": SCHEMAS["$defs"], **SCHEMAS[name]}


def problems(name: str, body: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema(name))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}" for e in validator.iter_errors(body)]


def answered(success: str, status: int = 200) -> Callable[[Served], list[str]]:
    """The check of one route: `success` schema on `status`, the §2.2 error envelope otherwise."""

    def check(served: Served) -> list[str]:
        if served.status == status:
            return problems(success, served.body)
        return error_problems(served)

    return check


def error_problems(served: Served) -> list[str]:
    found = problems("error", served.body)
    code = served.body["error"].get("code") if not found else None
    if code is not None and code not in ERROR_CODES.get(served.status, set()):
        found.append(f"HTTP {served.status} does not carry {code!r} (§2.2)")
    return found


CONTRACTS = {
    ("POST", "/v1/oauth/token"): answered("token"),
    ("GET", "/v1/invitations"): answered("invitation_page"),
    ("POST", "/v1/invitations"): answered("invitation", 201),
    ("GET", "/v1/invitations/{invitation_id}"): answered("invitation"),
    ("POST", "/v1/invitations/{invitation_id}/reset"): answered("invitation"),
    ("POST", "/v1/invitations/{invitation_id}/extend"): answered("invitation"),
    ("GET", "/v1/events"): answered("event_page"),
}
"""docs/aiplatform-protocol.md §4: per route (method, path template), the check of its answers."""
EXCEPTIONS: dict[str, str] = {}
"""Known differences still served, with their source: none. (The `malformed` fault breaks the contract on
purpose and is driven apart: `test_the_contract_catches_the_malformed_fault_and_undocumented_keys`.)"""


@dataclass
class Webhooks:
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


def receiver(webhooks: Webhooks) -> FastAPI:
    app = FastAPI()

    @app.post("/callbacks/acme.aip")
    async def receive(request: Request) -> dict[str, bool]:
        webhooks.deliveries.append((dict(request.headers), await request.body()))
        return {"received": True}

    return app


def connector_for(url: str, secret: str = CLIENT_SECRET, **settings: Any) -> AIPlatformConnector:
    config = AIPlatformSettings.model_validate({"read_timeout_seconds": 2.0, "backoff_seconds": 0.01,
                                                "requests_per_second": 1000, **settings})
    creds = Credentials("aip", login="emulator-client", password=secret,
                        extra={"webhook_secret": "emulator-webhook-secret"})
    return AIPlatformConnector(Instance("acme", "acme.aip", base_urls={"api": f"{url}/v1"}), config, creds)


def action(kind: str, key: str, payload: dict[str, Any], interview_id: str | None = None) -> Action:
    return Action(idempotency_key=key, tenant="acme", connector="acme.aip", kind=kind, payload=payload,
                  interview_id=interview_id, due_at=utcnow())


def expect_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with pytest.raises(VendorError):
        call(*args, **kwargs)


def drive_everything(url: str, world: AIPlatformWorld, connector: AIPlatformConnector) -> list[Any]:
    """Every operation of the connector and every error the API answers; returns what the streams read."""
    assert connector.check().ok
    first = connector.perform(action("create_invitation", "ll-c-1", NEW)).remote_id
    connector.perform(action("create_invitation", "ll-c-1", NEW))  # replayed under its key
    phone_only = {**NEW, "candidate": {"name": "Li", "phone": "+8613800000000"}, "deadline_basis": "absolute",
                  "window_hours": None, "deadline_at": "2099-01-01T00:00:00Z", "opens_at": "2098-12-31T00:00:00Z"}
    second = connector.perform(action("create_invitation", "ll-c-2", phone_only)).remote_id
    world.open_link(first, prefetch_suspected=True)
    world.start(first)
    for kind, code in (("join_error", "ICE_FAILED"), ("device_check_failed", "CAMERA_NOT_FOUND"),
                       ("upload_error", "UPLOAD_TIMEOUT")):
        world.technical(first, kind, code)
    connector.perform(action("reissue_link", "ll-c-3", {"mode": "extend", "hours": 24, "invitation_id": first}))
    world.submit(first)
    connector.perform(action("reissue_link", "ll-c-4", {"mode": "reset", "hours": 24, "invitation_id": second}))
    third = world.invite("Wang", email="wang@example.com", window_hours=1)["id"]
    fourth = world.invite("Zhao", phone="13900000000")["id"]
    world.withdraw(fourth)
    world.advance(2 * 3600)  # the third expires
    connector.client.request("GET", f"/invitations/{third}", api="invitations.get", quota=connector.quota)
    items = [*connector.read("interviews", {}), *connector.read("events", {})]
    small = connector_for(url, page_size=1)  # paged listings: next_cursor set, then followed
    items += [*small.read("interviews", {}), *small.read("events", {})]
    # error envelopes
    call = connector.client.request
    expect_error(call, "GET", "/invitations/inv_nosuch", api="invitations.get", quota=connector.quota)
    expect_error(call, "GET", "/invitations", api="invitations.list", params={"limit": 0}, quota=connector.quota)
    expect_error(call, "GET", "/events", api="events.list", params={"cursor": "garbage"}, quota=connector.quota)
    expect_error(connector.perform, action("create_invitation", "ll-c-1", {**NEW, "window_hours": 12}))  # key reused
    expect_error(connector.perform, action("reissue_link", "ll-c-5", {"mode": "extend", "hours": 1,
                                                                      "invitation_id": first}))  # closed
    for n in range(3):
        connector.perform(action("reissue_link", f"ll-c-r{n}", {"mode": "reset", "invitation_id": third}))
    expect_error(connector.perform, action("reissue_link", "ll-c-r9", {"mode": "reset", "invitation_id": third}))
    assert not connector_for(url, secret="wrong").check().ok  # invalid_client
    world.expire_tokens()
    assert connector.check().ok  # token_expired, then a new token
    world.faults.configure(Faults(rate_limit=1.0))
    assert not connector_for(url, max_attempts=1).check().ok
    world.faults.configure(Faults(server_error=1.0))
    assert not connector_for(url, max_attempts=1).check().ok
    world.faults.configure(Faults())
    world.deny_apis(["*"])  # insufficient_scope
    expect_error(connector.perform, action("create_invitation", "ll-c-6", NEW))
    world.deny_apis([])
    grant = {"grant_type": "client_credentials", "client_id": "emulator-client", "client_secret": CLIENT_SECRET}
    token = requests.post(url + "/v1/oauth/token", json=grant, timeout=5).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    for path, body, key in (("/v1/invitations", {"candidate": {"name": ""}}, "k1"),
                            (f"/v1/invitations/{second}/extend", {"hours": True}, "k2"),
                            (f"/v1/invitations/{second}/reset", {}, None)):  # no Idempotency-Key
        headers = bearer | ({"Idempotency-Key": key} if key else {})
        assert requests.post(url + path, json=body, headers=headers, timeout=5).status_code == 400
    for method, path, kwargs in (
        ("GET", "/v1/invitations", {}),  # no token
        ("GET", "/v1/invitations", {"headers": {"Authorization": "Bearer nope"}}),
        ("POST", "/v1/oauth/token", {"json": {"grant_type": "password"}}),
        ("POST", "/v1/oauth/token", {"data": b"[1]"}),
        ("GET", "/v1/nothing/here", {}),
        ("DELETE", "/v1/invitations", {}),
    ):
        assert 400 <= requests.request(method, url + path, timeout=5, **kwargs).status_code < 500
    return items


@dataclass
class Run:
    world: AIPlatformWorld
    app: FastAPI
    connector: AIPlatformConnector
    webhooks: Webhooks
    items: list[Any]


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    webhooks = Webhooks()
    with LoopbackServer(receiver(webhooks)) as hooks:
        app = create_app(EmulatorSettings(deliver_in_background=False, retry_after_seconds=0,
                                          requests_per_second=1000, callback_url=f"{hooks.url}/callbacks/acme.aip"))
        world: AIPlatformWorld = app.state.world
        with LoopbackServer(app) as server:
            connector = connector_for(server.url)
            items = drive_everything(server.url, world, connector)
        assert world.deliver_pending_events() == len(world.events)
    # the servers have stopped: every answer is in `world.served` (it is kept after the body went out)
    yield Run(world, app, connector, webhooks, items)
    world.close()


def vendor_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {(method, route.path) for route in app.routes if isinstance(route, APIRoute)
            and not route.path.startswith("/_emulator") for method in route.methods}


def test_every_route_of_the_emulator_has_a_contract_and_was_driven(run: Run) -> None:
    routes = vendor_routes(run.app)
    assert routes == set(CONTRACTS), f"routes without a contract: {sorted(routes - set(CONTRACTS))}"
    assert {(s.method, s.route) for s in run.world.served} >= routes


def test_every_response_served_keeps_the_protocol(run: Run) -> None:
    served = list(run.world.served)
    errors = {(s.status, s.body["error"]["code"]) for s in served if s.status >= 400}
    assert errors >= {(400, "invalid_request"), (400, "invalid_cursor"), (401, "invalid_client"),
                      (401, "invalid_token"), (401, "token_expired"), (403, "insufficient_scope"), (404, "not_found"),
                      (409, "invitation_closed"), (409, "reset_limit_reached"), (422, "idempotency_key_reused"),
                      (429, "rate_limited"), (503, "unavailable")}
    assert any(s.body.get("next_cursor") for s in served if s.route == "/v1/events" and s.status == 200)
    found = {}
    for s in served:
        check = CONTRACTS.get((s.method, s.route), error_problems)  # an unrouted call: the error envelope
        wrong = check(s)
        if wrong:
            found[f"{s.method} {s.route} {s.status} {json.dumps(s.body, ensure_ascii=False)[:200]}"] = wrong
    assert found == EXCEPTIONS


def test_every_event_type_was_listed(run: Run) -> None:
    types = {e["type"] for s in run.world.served if s.route == "/v1/events" and s.status == 200
             for e in s.body["data"]}
    assert types == set(SCHEMAS["$defs"]["event"]["properties"]["type"]["enum"])


def test_every_webhook_delivery_keeps_the_protocol_and_the_connector_takes_it(run: Run) -> None:
    assert len(run.webhooks.deliveries) == len(run.world.events)
    for headers, body in run.webhooks.deliveries:
        event = json.loads(body)
        assert problems("webhook", event) == []
        assert problems("webhook_headers", headers) == []
        assert headers["aip-event-id"] == event["id"]
        request = CallbackRequest(headers, {}, body, datetime.fromtimestamp(run.world.now(), UTC))  # virtual time
        assert run.connector.handle_callback(request).event_id == event["id"]


def test_the_streams_read_every_listed_item_without_quarantine(run: Run) -> None:
    assert not [i for i in run.items if isinstance(i, Malformed)]
    assert sum(isinstance(i, Checkpoint) for i in run.items) > 4


def test_the_contract_catches_the_malformed_fault_and_undocumented_keys() -> None:
    """The `malformed` fault breaks the protocol on purpose (the connector quarantines such items):
    the check must see it, as it sees a key or a type the protocol does not define."""
    app = create_app(EmulatorSettings(deliver_in_background=False, faults=Faults(malformed=1.0)))
    world: AIPlatformWorld = app.state.world
    for n in range(4):
        world.invite(f"C{n}", email=f"c{n}@example.com")
    with LoopbackServer(app) as server:
        items = [*connector_for(server.url).read("interviews", {}), *connector_for(server.url).read("events", {})]
    world.close()
    assert sum(isinstance(i, Malformed) for i in items) == 2
    pages = [s for s in world.served if s.route in ("/v1/invitations", "/v1/events") and s.status == 200]
    assert len(pages) == 2 and all(CONTRACTS[(s.method, s.route)](s) for s in pages)
    invitation = world.get(next(iter(world.invitations)))
    good = Served("GET", "/v1/invitations/{invitation_id}", 200, invitation)
    assert CONTRACTS[(good.method, good.route)](good) == []
    for broken in ({**invitation, "extra": 1}, {**invitation, "resets": "0"}, {**invitation, "open_by": None}):
        assert CONTRACTS[("GET", "/v1/invitations/{invitation_id}")](
            Served("GET", "/v1/invitations/{invitation_id}", 200, broken))
    assert error_problems(Served("GET", "/v1/x", 404, {"error": {"code": "not_found", "message": "m"}}))


def test_the_connector_reads_no_field_the_protocol_lacks() -> None:
    """Every key the connector and its wire models read is defined by the protocol (§2.1, §2.2, §3, §4.1)."""
    from lifeline_hub.connectors.aiplatform import wire

    defs = SCHEMAS["$defs"]
    known = (set(defs["invitation"]["properties"]) | set(defs["invitation"]["properties"]["candidate"]["properties"])
             | set(defs["invitation"]["properties"]["link"]["properties"]) | set(defs["event"]["properties"])
             | set(defs["page"]["properties"]) | set(SCHEMAS["token"]["properties"])
             | set(SCHEMAS["error"]["properties"]["error"]["properties"]) | {"error"}
             | {k for rule in defs["event"]["allOf"] for k in rule["then"]["properties"]["data"].get("properties", {})})
    models = (wire.WireInvitation, wire.WireCandidate, wire.WireLink, wire.WireEvent, wire.WirePage)
    read = {name for model in models for name in model.model_fields}
    root = Path(__file__).parents[2] / "connectors" / "aiplatform"
    source = "\n".join((root / name).read_text(encoding="utf-8") for name in ("connector.py", "client.py",
                                                                               "mapping.py"))
    read |= set(re.findall(r"""\.get\(["'](\w+)["']""", source)) | set(re.findall(r"""\[["'](\w+)["']\]""", source))
    read -= {"updated_since", "cursor", "limit"}  # §4.1 query parameters
    ours = {"since", "page", "as_of", "webhook_secret", "webhook_secret_previous", "login", "password",
            "Retry-After"}
    """Keys of our own: the stream cursor, connection fields, a response header."""
    assert read - ours <= known, sorted(read - ours - known)
