"""The emulator over HTTP: the protocol's auth, errors, paging, idempotency, lifecycle and control API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld, create_app
from lifeline_hub.core.emulator import FaultPlan
from lifeline_hub.core.models import parse_instant
from tests.aiplatform.aiplatform_helpers import platform


class Api:
    def __init__(self, url: str) -> None:
        self.url = f"{url}/v1"
        grant = {"grant_type": "client_credentials", "client_id": "emulator-client",
                 "client_secret": "emulator-client-secret"}
        self.token = requests.post(f"{self.url}/oauth/token", json=grant, timeout=5).json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=5, **kwargs)


@pytest.fixture
def emulator() -> Iterator[tuple[AIPlatformWorld, Api, str]]:
    with platform() as (world, url):
        yield world, Api(url), url


def error(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_lifecycle_and_deadline_bases(emulator: tuple[AIPlatformWorld, Api, str]) -> None:
    world, _, _ = emulator
    relative = world.invite("A", email="a@example.com", window_hours=24)
    on_open = world.invite("B", email="b@example.com", deadline_basis="from_first_open", window_hours=24)
    assert parse_instant(relative["deadline_at"]) - parse_instant(relative["invited_at"]) == timedelta(hours=24)
    assert on_open["deadline_at"] == on_open["open_by"]
    world.advance(3600)
    opened = world.open_link(on_open["id"])
    assert parse_instant(opened["deadline_at"]) == parse_instant(opened["first_opened_at"]) + timedelta(hours=24)
    assert world.start(relative["id"])["status"] == "started"
    assert world.advance(23.5 * 3600) == 1 and world.get(relative["id"])["status"] == "expired"
    assert world.extend(relative["id"], 6)["status"] == "started"
    reset = world.reset(relative["id"])
    assert (reset["status"], reset["resets"], reset["link"]["version"], reset["started_at"]) == ("invited", 1, 2, None)
    assert [e.type for e in world.events if e.invitation_id == relative["id"]] == [
        "invitation.created", "invitation.opened", "interview.started", "invitation.expired",
        "invitation.extended", "invitation.reset",
    ]
    assert {e.attempt for e in world.events if e.type == "invitation.reset"} == {1}


def test_auth_errors(emulator: tuple[AIPlatformWorld, Api, str]) -> None:
    world, api, url = emulator
    bad = requests.post(f"{url}/v1/oauth/token", json={"grant_type": "client_credentials", "client_id": "x",
                                                       "client_secret": "y"}, timeout=5)
    assert error(bad) == (401, "invalid_client")
    assert error(requests.get(f"{url}/v1/invitations", timeout=5)) == (401, "invalid_token")
    assert api.call("GET", "/invitations").status_code == 200
    world.expire_tokens()
    answer = api.call("GET", "/invitations")
    assert error(answer) == (401, "token_expired") and answer.headers["X-Request-Id"].startswith("req_")


def test_a_denied_api_answers_403_insufficient_scope(emulator: tuple[AIPlatformWorld, Api, str]) -> None:
    """Protocol §2.2: 403 `insufficient_scope` when the client may not do this; other APIs and the token endpoint
    stay open, and nothing is created."""
    world, api, url = emulator
    world.deny_apis(["invitations.create"])
    body = {"candidate": {"name": "Li", "email": "li@example.com"}, "window_hours": 48}
    answer = api.call("POST", "/invitations", json=body, headers={"Idempotency-Key": "k1"})
    assert error(answer) == (403, "insufficient_scope") and not world.invitations
    assert api.call("GET", "/invitations").status_code == 200
    world.deny_apis(["*"])
    assert error(api.call("GET", "/invitations")) == (403, "insufficient_scope")
    assert Api(url).token  # the token endpoint is not scoped
    world.deny_apis([])
    assert api.call("POST", "/invitations", json=body, headers={"Idempotency-Key": "k1"}).status_code == 201


def test_paging_and_cursor_errors(emulator: tuple[AIPlatformWorld, Api, str]) -> None:
    world, api, _ = emulator
    for n in range(5):
        world.invite(f"C{n}", email=f"c{n}@example.com")
    first = api.call("GET", "/invitations", params={"limit": 2}).json()
    second = api.call("GET", "/invitations", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.call("GET", "/invitations", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    ids = [i["id"] for page in (first, second, third) for i in page["data"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None and first["as_of"].endswith("Z")
    later = api.call("GET", "/invitations", params={"updated_since": first["as_of"]}).json()
    assert later["data"] == []
    assert error(api.call("GET", "/invitations", params={"limit": 500})) == (400, "invalid_request")
    assert error(api.call("GET", "/events", params={"cursor": first["next_cursor"]})) == (400, "invalid_cursor")
    assert error(api.call("GET", "/invitations", params={"updated_since": "yesterday"})) == (400, "invalid_request")


def test_idempotency_keys(emulator: tuple[AIPlatformWorld, Api, str]) -> None:
    world, api, _ = emulator
    body = {"candidate": {"name": "D", "phone": "13812341234"}, "window_hours": 24}
    assert error(api.call("POST", "/invitations", json=body)) == (400, "invalid_request")
    made = api.call("POST", "/invitations", json=body, headers={"Idempotency-Key": "k1"})
    again = api.call("POST", "/invitations", json=body, headers={"Idempotency-Key": "k1"})
    assert made.status_code == again.status_code == 201 and made.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true" and len(world.invitations) == 1
    other = api.call("POST", "/invitations", json={**body, "window_hours": 12}, headers={"Idempotency-Key": "k1"})
    assert error(other) == (422, "idempotency_key_reused")
    closed = world.withdraw(made.json()["id"])["id"]
    assert error(api.call("POST", f"/invitations/{closed}/reset", json={}, headers={"Idempotency-Key": "k2"})) == (
        409, "invitation_closed")
    assert error(api.call("GET", "/invitations/inv_nothing")) == (404, "not_found")


def test_the_rate_limit_is_enforced_and_counted(emulator: tuple[AIPlatformWorld, Api, str]) -> None:
    world, api, _ = emulator
    answers = [api.call("GET", "/invitations") for _ in range(world.settings.requests_per_second + 5)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused and refused[0].headers["Retry-After"] == "1" and world.meter.total_breaches == len(refused)
    assert world.quota_breaches() == len(refused) and world.api_calls() == len(answers) + 1  # + the token


def test_the_control_api(emulator: tuple[AIPlatformWorld, Api, str]) -> None:
    _, _, url = emulator
    made = requests.post(f"{url}/_emulator/drive/invite", json={"name": "E", "email": "e@example.com"}, timeout=5)
    invitation = made.json()["result"]["id"]
    assert requests.post(f"{url}/_emulator/drive/open_link", json={"invitation_id": invitation},
                         timeout=5).json()["result"]["status"] == "opened"
    closed = requests.post(f"{url}/_emulator/drive/submit", json={"invitation_id": invitation}, timeout=5)
    assert error(closed) == (409, "invitation_closed")  # the platform's own status and code
    assert error(requests.post(f"{url}/_emulator/drive/get", json={"invitation_id": "inv_x"}, timeout=5)) == (
        404, "not_found")  # not an action
    assert error(requests.post(f"{url}/_emulator/drive/extend", json={"invitation_id": "inv_x", "hours": 1},
                               timeout=5)) == (404, "not_found")  # the platform's 404
    assert requests.post(f"{url}/_emulator/drive/close", json={}, timeout=5).status_code == 404
    assert requests.post(f"{url}/_emulator/drive/advance", json={"seconds": "soon"}, timeout=5).status_code == 422
    assert requests.put(f"{url}/_emulator/faults", json={"server_error": 1.0}, timeout=5).status_code == 200
    assert requests.get(f"{url}/v1/invitations", timeout=5).status_code == 503
    state = requests.get(f"{url}/_emulator/state", timeout=5).json()
    assert state["faults_injected"] == {"server_error": 1} and len(state["events"]) == 2
    assert state["api_calls"] == 1 and state["quota_breaches"] == 0  # the token; drive calls are no API calls
    assert "e@example.com" not in str(state)


def test_lifeline_emulate_can_drive_the_app() -> None:
    app = create_app()
    assert isinstance(app.state.world.faults, FaultPlan)


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/v1/nothing/here", 404, "not_found"), ("DELETE", "/v1/invitations", 405, "invalid_request")])
def test_an_unrouted_call_gets_the_whole_error_envelope(emulator: tuple[AIPlatformWorld, Api, str], method: str,
                                                        path: str, status: int, code: str) -> None:
    """§2: every response carries `X-Request-Id`; §2.2: the envelope quotes it as `request_id`."""
    answer = requests.request(method, emulator[2] + path, timeout=5)
    assert error(answer) == (status, code)
    assert answer.json()["error"]["request_id"] == answer.headers["X-Request-Id"]
    assert answer.json()["error"]["request_id"].startswith("req_")


CANDIDATE = {"name": "A", "email": "a@example.com"}
BAD_BODIES = [
    ("create", {"candidate": CANDIDATE, "deadline_basis": "absolute", "deadline_at": "garbage"}),
    ("create", {"candidate": CANDIDATE, "deadline_basis": "absolute", "deadline_at": 5}),
    ("create", {"candidate": CANDIDATE, "window_hours": 5, "opens_at": "garbage"}),
    ("create", {"candidate": {"name": "A", "email": 123}, "window_hours": 5}),
    ("create", {"candidate": {"name": "A", "phone": ["x"]}, "window_hours": 5}),
    ("create", {"candidate": {"name": "", "email": "a@example.com"}, "window_hours": 5}),
    ("create", {"candidate": {**CANDIDATE, "external_ref": 7}, "window_hours": 5}),
    ("create", {"candidate": {**CANDIDATE, "locale": 5}, "window_hours": 5}),
    ("create", {"candidate": CANDIDATE, "external_ref": {"a": 1}, "window_hours": 5}),
    ("create", {"candidate": CANDIDATE, "window_hours": True}),
    ("create", {"candidate": CANDIDATE, "window_hours": 10**20}),
    ("extend", {"hours": 10**20}),
    ("extend", {"hours": True}),
    ("extend", {"hours": 1, "new_link": "no"}),
    ("reset", {"window_hours": 10**20}),
    ("reset", {"new_link": "false"}),
]


@pytest.mark.parametrize(("route", "body"), BAD_BODIES)
def test_a_malformed_write_is_a_400_and_changes_nothing(emulator: tuple[AIPlatformWorld, Api, str], route: str,
                                                        body: dict[str, Any]) -> None:
    """Wrong types and out-of-range values are refused with a reason (never a 500, never stored: an
    unrenderable deadline would break every later listing)."""
    world, api, _ = emulator
    invitation = world.invite("B", email="b@example.com")["id"]
    before = api.call("GET", "/invitations").json()["data"]
    path = "/invitations" if route == "create" else f"/invitations/{invitation}/{route}"
    answer = api.call("POST", path, json=body, headers={"Idempotency-Key": f"k-{route}"})
    assert error(answer) == (400, "invalid_request") and answer.json()["error"]["message"]
    assert api.call("GET", "/invitations").json()["data"] == before


def test_an_extension_past_the_calendar_is_refused(emulator: tuple[AIPlatformWorld, Api, str]) -> None:
    world, api, _ = emulator
    invitation = world.invite("B", email="b@example.com", deadline_basis="absolute",
                              deadline_at="9999-12-31T00:00:00Z", window_hours=None)["id"]
    answer = api.call("POST", f"/invitations/{invitation}/extend", json={"hours": 48}, headers={"Idempotency-Key": "x"})
    assert error(answer) == (400, "invalid_request")
    assert api.call("GET", f"/invitations/{invitation}").json()["deadline_at"] == "9999-12-31T00:00:00.000Z"
