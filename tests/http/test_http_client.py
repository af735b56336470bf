"""VendorClient over real HTTP on loopback: tokens, rate limits, retries, idempotency, logs, paging."""

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from lifeline_hub.core.emulator import LoopbackServer, free_port
from lifeline_hub.core.http import (
    AuthFailed,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
    RateLimiter,
    RequestParts,
    Token,
    TokenExpired,
    TokenProvider,
    TransientError,
    VendorClient,
    VendorError,
    items,
    page_token_pages,
    parse_retry_after,
)
from lifeline_hub.core.http.testing import FakeClock

SECRET = "s3cret-app-secret"


class Vendor:
    """State of the test vendor: a script of answers and everything it received."""

    def __init__(self) -> None:
        self.plan: deque[str] = deque()
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, token)
        self.issued = 0
        self.valid: set[str] = set()
        self.lock = threading.Lock()

    def issue(self) -> str:
        with self.lock:
            self.issued += 1
            token = f"t-TOKSECRET{self.issued}"
            self.valid.add(token)
            return token

    def calls(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.seen if (m, p) == (method, path))


def envelope(code: int, msg: str, status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg}, status_code=status, headers=headers)


def make_app(vendor: Vendor) -> FastAPI:
    """A Feishu-like vendor: `{code, msg, data}` envelope, bearer or `access_token` query token."""
    app = FastAPI()

    @app.post("/auth/token")
    async def token(body: dict[str, Any]) -> Response:
        if body.get("app_secret") != SECRET:
            return envelope(10003, "invalid app_secret")
        return JSONResponse({"code": 0, "msg": "ok", "tenant_access_token": vendor.issue(), "expire": 7200})

    @app.get("/v1/pages")
    async def pages(page_token: str = "", loop: bool = False) -> Response:
        page = int(page_token or 0)
        data = {"items": [page * 2, page * 2 + 1], "page_token": "1" if loop else str(page + 1), "has_more": page < 2}
        return JSONResponse({"code": 0, "msg": "ok", "data": data})

    @app.api_route("/v1/{name}", methods=["GET", "POST"])
    async def call(name: str, request: Request) -> Response:
        auth = request.headers.get("authorization", "").removeprefix("Bearer ")
        token = auth or request.query_params.get("access_token")
        vendor.seen.append((request.method, name, token))
        action = vendor.plan.popleft() if vendor.plan else "ok"
        if action == "expire":
            vendor.valid.discard(token or "")
        if token not in vendor.valid:
            return envelope(99991663, "Invalid access token for authorization", 400)
        if action == "429":
            return envelope(99991400, "request trigger frequency limit", 429, **{"Retry-After": "2"})
        if action == "limit_body":
            return envelope(99991400, "request trigger frequency limit", **{"x-ogw-ratelimit-reset": "0.2"})
        if action == "500":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if action == "503":
            return envelope(1, "busy", 503, **{"Retry-After": "3"})
        if action == "forbidden":
            msg = "Access denied. One of the following scopes is required: [im:message]"
            return envelope(99991672, msg, 403)
        if action == "html":
            return Response("<html>busy</html>", media_type="text/html")
        if action == "slow":
            await asyncio.sleep(1.0)
        return JSONResponse({"code": 0, "msg": "ok", "data": {"n": len(vendor.seen)}}, headers={"X-Tt-Logid": "log1"})

    return app


class AcmeClient(VendorClient):
    """How a vendor subclass looks: error codes to typed errors, payload out of the envelope."""

    vendor = "acme"
    min_rate_limit_wait = 1.0
    request_id_header = "X-Tt-Logid"
    errors: dict[int, type[VendorError]] = {  # noqa: RUF012
        99991400: RateLimited,
        99991663: TokenExpired,
        99991672: PermissionDenied,
        10003: AuthFailed,
    }

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)
        if not isinstance(body, dict):
            raise self.status_error(response)
        if body.get("code") == 0 and response.ok:
            return body.get("data", body)
        kind = self.errors.get(body.get("code", -1))
        if kind is None:
            raise self.status_error(response, body.get("msg"))
        reset = response.headers.get("x-ogw-ratelimit-reset") or response.headers.get("Retry-After")
        raise self.error(kind, response, body.get("msg", ""), code=body["code"], retry_after=parse_retry_after(reset))


class QueryTokenClient(AcmeClient):
    """DingTalk old-API style: the token travels as `?access_token=`."""

    def apply_token(self, request: RequestParts, token: str) -> None:
        request["params"]["access_token"] = token


class AcmeTokens(TokenProvider):
    def __init__(self, client: VendorClient, secret: str = SECRET) -> None:
        super().__init__()
        self.client, self.secret = client, secret

    def fetch(self) -> Token:
        body = self.client.request(
            "POST",
            "/auth/token",
            api="auth",
            json={"app_id": "cli_1", "app_secret": self.secret},
            auth=False,
            idempotent=True,
        )
        return self.expiring_in(body["tenant_access_token"], body["expire"])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Vendor]]:
    vendor = Vendor()
    with LoopbackServer(make_app(vendor)) as running:
        yield running.url, vendor


@pytest.fixture
def vendor(server: tuple[str, Vendor]) -> Vendor:
    state = server[1]
    state.plan.clear()
    state.seen.clear()
    return state


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(
    server: tuple[str, Vendor], clock: FakeClock, cls: type[AcmeClient] = AcmeClient, **kwargs: Any
) -> AcmeClient:
    client = cls(
        server[0],
        app="cli_1",
        limiter=RateLimiter(clock=clock.time, sleep=clock.sleep),
        timeout=(1.0, 0.5),
        **{"max_attempts": 4, "sleep": clock.sleep, **kwargs},
    )
    client.tokens = AcmeTokens(client)
    return client


def test_get_uses_token_and_returns_payload(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = make_client(server, clock)
    assert client.request("GET", "/v1/items", api="items") == {"n": 1}
    assert vendor.seen == [("GET", "items", f"t-TOKSECRET{vendor.issued}")]
    assert client.stats.as_dict() == {
        "calls": {"auth": 1, "items": 1},
        "total_calls": 2,
        "retries": 0,
        "rate_limited": 0,
        "errors": {},
    }


def test_429_retry_after_is_honoured_and_pauses_the_key(
    server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock
) -> None:
    waits: list[float] = []
    client = make_client(server, clock, sleep=waits.append)  # retry waits do not move the clock
    vendor.plan.extend(["429"])
    assert client.request("POST", "/v1/messages", api="im.send") == {"n": 2}
    assert waits == [2.0]
    assert clock.sleeps == [pytest.approx(2.0)]  # the limiter held the key for Retry-After
    assert vendor.calls("POST", "messages") == 2  # a refused write is safe to repeat
    assert client.stats.rate_limited == 1
    assert client.stats.retries == 1


def test_rate_limit_code_in_200_body_waits_at_least_the_vendor_minimum(
    server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock
) -> None:
    client = make_client(server, clock)
    vendor.plan.extend(["limit_body", "limit_body"])
    assert client.request("GET", "/v1/items", api="items") == {"n": 3}
    assert clock.sleeps == [1.0, 1.0]  # reset header 0.2 s, vendor minimum 1 s
    assert client.stats.rate_limited == 2


def test_rate_limit_longer_than_max_retry_after_fails_at_once(
    server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock
) -> None:
    client = make_client(server, clock, max_retry_after=1.0)
    vendor.plan.extend(["429"])
    with pytest.raises(RateLimited) as caught:
        client.request("GET", "/v1/items", api="items")
    assert caught.value.retry_after == 2.0
    assert vendor.calls("GET", "items") == 1


def test_5xx_is_retried_for_get_with_backoff_and_retry_after(
    server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock
) -> None:
    client = make_client(server, clock)
    vendor.plan.extend(["500", "503"])
    assert client.request("GET", "/v1/items", api="items") == {"n": 3}
    backoff, retry_after = clock.sleeps
    assert 0.5 <= backoff <= 1.0
    assert retry_after == 3.0
    assert client.stats.retries == 2


def test_5xx_is_not_retried_for_a_plain_post(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = make_client(server, clock)
    vendor.plan.extend(["500"])
    with pytest.raises(TransientError) as caught:
        client.request("POST", "/v1/messages", api="im.send", json={"text": "hi"})
    assert caught.value.http_status == 500
    assert vendor.calls("POST", "messages") == 1
    assert client.stats.errors == {"TransientError": 1}


def test_post_that_timed_out_is_sent_exactly_once(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = make_client(server, clock)
    vendor.plan.extend(["slow"])
    with pytest.raises(TransientError, match="read timeout") as caught:
        client.request("POST", "/v1/messages", api="im.send", json={"text": "hi"})
    assert caught.value.sent
    assert vendor.calls("POST", "messages") == 1


def test_post_with_idempotency_key_is_retried_after_timeout(
    server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock
) -> None:
    client = make_client(server, clock)
    vendor.plan.extend(["slow"])
    payload = {"text": "hi", "uuid": "interview-7:reminder_t1d:1"}
    assert client.request("POST", "/v1/messages", api="im.send", json=payload, idempotent=True) == {"n": 2}
    assert vendor.calls("POST", "messages") == 2


def test_connection_refused_is_retried_even_for_post(clock: FakeClock) -> None:
    client = QueryTokenClient(f"http://127.0.0.1:{free_port()}", max_attempts=3, sleep=clock.sleep)
    with pytest.raises(TransientError) as caught:
        client.request("POST", "/v1/messages", api="im.send", params={"access_token": "t-TOKSECRET"})
    assert not caught.value.sent
    assert client.stats.calls["im.send"] == 3
    assert "TOKSECRET" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # the raw requests error (with the URL) is not chained


def test_token_expired_refreshes_once_and_retries(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = make_client(server, clock)
    client.request("GET", "/v1/items", api="items")
    issued = vendor.issued
    vendor.plan.extend(["expire"])
    assert client.request("GET", "/v1/items", api="items") == {"n": 3}
    assert vendor.issued == issued + 1
    assert [token for _, _, token in vendor.seen] == [f"t-TOKSECRET{issued}"] * 2 + [f"t-TOKSECRET{issued + 1}"]
    assert sum(clock.sleeps) == 0  # no backoff before the retry with a fresh token


def test_token_expired_again_after_refresh_fails(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = make_client(server, clock)
    issued = vendor.issued
    vendor.plan.extend(["expire", "expire", "expire"])
    with pytest.raises(TokenExpired):
        client.request("POST", "/v1/messages", api="im.send")
    assert vendor.issued == issued + 2
    assert vendor.calls("POST", "messages") == 2


def test_concurrent_token_expiry_causes_one_refresh(server: tuple[str, Vendor], vendor: Vendor) -> None:
    client = AcmeClient(server[0], max_attempts=2)
    client.tokens = AcmeTokens(client)
    client.tokens.get()
    issued = vendor.issued
    vendor.plan.extend(["expire"])
    start = threading.Barrier(8)
    results: list[Any] = []

    def call() -> None:
        start.wait()
        results.append(client.request("GET", "/v1/items", api="items"))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8
    assert vendor.issued == issued + 1


def test_permission_denied_is_not_retried(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = make_client(server, clock)
    vendor.plan.extend(["forbidden"])
    with pytest.raises(PermissionDenied) as caught:
        client.request("GET", "/v1/items", api="items")
    assert "im:message" in str(caught.value)
    assert caught.value.http_status == 403
    assert vendor.calls("GET", "items") == 1
    assert client.stats.errors == {"PermissionDenied": 1}


def test_bad_credentials_fail_at_once(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = make_client(server, clock)
    client.tokens = AcmeTokens(client, secret="wrong")
    with pytest.raises(AuthFailed, match="invalid app_secret"):
        client.request("GET", "/v1/items", api="items")
    assert client.stats.calls == {"auth": 1}
    assert vendor.seen == []


def test_base_client_maps_http_statuses(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = VendorClient(server[0], vendor="generic", sleep=clock.sleep)
    vendor.plan.extend(["ok"])
    with pytest.raises(InvalidRequest) as caught:  # no token: the vendor's 400 is a plain bad request
        client.request("GET", "/v1/items", api="items")
    assert caught.value.http_status == 400
    assert "Invalid access token" in str(caught.value)
    with pytest.raises(InvalidRequest, match="invalid request"):
        client.request("GET", "http://[::1", api="items")


def test_non_json_answer_is_transient(server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock) -> None:
    client = make_client(server, clock)
    vendor.plan.extend(["html"])
    with pytest.raises(TransientError, match="expected JSON, got text/html"):
        client.request("POST", "/v1/messages", api="im.send")
    assert vendor.calls("POST", "messages") == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_debug_log_has_calls_but_no_secrets(
    server: tuple[str, Vendor], vendor: Vendor, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server, clock, cls=QueryTokenClient)
    vendor.plan.extend(["429"])
    with caplog.at_level(logging.DEBUG, logger="lifeline.http"):
        client.request("GET", "/v1/items", api="items", params={"phone": "13812341234"})
    assert "TOKSECRET" not in caplog.text
    assert SECRET not in caplog.text
    assert "13812341234" not in caplog.text
    assert "access_token=***" in caplog.text
    assert "-> 429 RateLimited api=items attempt=1" in caplog.text
    assert "-> 200 ok api=items attempt=2" in caplog.text
    assert "retrying GET" in caplog.text


def test_page_token_paging_over_http(server: tuple[str, Vendor], clock: FakeClock) -> None:
    client = make_client(server, clock)

    def fetch(page_token: str | None, loop: bool = False) -> tuple[list[int], str | None, bool]:
        data = client.request("GET", "/v1/pages", api="pages", params={"page_token": page_token or "", "loop": loop})
        return data["items"], data["page_token"], data["has_more"]

    assert list(items(page_token_pages(fetch))) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(VendorError, match="same page_token '1' twice"):
        list(page_token_pages(lambda token: fetch(token, loop=True), vendor="acme"))
    assert client.stats.calls["pages"] == 3 + 2  # the loop is caught on the first repeat
