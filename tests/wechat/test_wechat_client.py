"""The Official Account client over loopback: both token flavours, refresh once on a refused token, typed errors,
and `check()`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lifeline_hub.connectors.wecom.oa_client import DailyQuota, NoSubscription, NotFollowing, WeChatClient, msgid
from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector
from lifeline_hub.connectors.wecom.oa_state import OaWorld
from lifeline_hub.core.http import AuthFailed, RateLimited, TokenExpired, TransientError, use_clock
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.store import Store
from tests.wechat.oa_helpers import ACCOUNT, FOLLOWER1, STRANGER, credentials, make_connector, send_action

BODY = {"touser": FOLLOWER1, "template_id": "TPL-interview-reminder",
        "data": {"thing1": {"value": "面试"}, "time2": {"value": "10:00"}, "thing3": {"value": "线上"}}}


def client(url: str, **options: object) -> WeChatClient:
    return WeChatClient(url, ACCOUNT.app_id, ACCOUNT.app_secret, **options)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def fake_waits() -> Iterator[None]:
    """Retry waits and the rate limiter's pauses pass on a fake clock (the emulator keeps real time)."""
    with use_clock(FakeClock(time.time())):
        yield


def test_one_stable_token_serves_every_call(emulator: str, world: OaWorld) -> None:
    c = client(emulator)
    for n in range(3):
        c.send_template({**BODY, "client_msg_id": f"k{n}"})
    assert world.tokens.issued == 1 and c.stats.calls["stable_token"] == 1


def test_the_classic_token_works_too(emulator: str, world: OaWorld) -> None:
    c = client(emulator, token_api="token")
    c.send_template({**BODY, "client_msg_id": "k"})
    assert c.stats.calls == {"token": 1, "template.send": 1} and world.tokens.classic is not None


def test_a_refused_token_is_fetched_again_and_the_call_retried_once(emulator: str, world: OaWorld) -> None:
    c = client(emulator)
    c.send_template({**BODY, "client_msg_id": "k1"})
    world.fail_next(40001, api="template.send")  # "not latest": another caller force-refreshed
    c.send_template({**BODY, "client_msg_id": "k2"})
    assert c.stats.calls["template.send"] == 3 and c.stats.calls["stable_token"] == 2
    world.fail_next(42001, times=2, api="template.send")
    with pytest.raises(TokenExpired):
        c.send_template({**BODY, "client_msg_id": "k3"})


@pytest.mark.parametrize(("code", "error", "retried"), [
    (43004, NotFollowing, False), (43101, NoSubscription, False), (45009, DailyQuota, False),
    (45011, RateLimited, True), (-1, TransientError, True),
])
def test_errcodes_become_typed_errors(emulator: str, world: OaWorld, code: int, error: type[Exception],
                                      retried: bool) -> None:
    c = client(emulator, max_attempts=2)
    world.fail_next(code, times=2, api="template.send")
    with pytest.raises(error) as caught:
        c.send_template({**BODY, "client_msg_id": "k"})
    assert getattr(caught.value, "code", None) == code
    assert c.stats.calls["template.send"] == (2 if retried else 1)


def test_a_stranger_is_not_following(emulator: str) -> None:
    with pytest.raises(NotFollowing):
        client(emulator).send_template({**BODY, "touser": STRANGER, "client_msg_id": "k"})


def test_msgid_is_read_as_a_string_never_through_a_float() -> None:
    assert msgid({"msgid": 3487542469355618313}) == "3487542469355618313"
    assert msgid({"msgid": "3487542469355618313"}) == "3487542469355618313"
    for bad in (3.487542469355618e18, None, True, "12a"):
        with pytest.raises(TransientError):
            msgid({"msgid": bad})


def test_check_passes_and_fails_cleanly(connector: WeChatConnector, emulator: str, contacts: Store) -> None:
    assert connector.check().ok
    wrong = make_connector(emulator, contacts, credentials("wrong-official-account-secret"))
    result = wrong.check()
    assert not result.ok and "40125" in result.message and "wrong-official-account-secret" not in result.message
    other = make_connector(emulator, contacts, credentials(login="wxsomeotheraccount"))
    with pytest.raises(AuthFailed, match="the connection is for AppID wxsomeotheraccount"):
        other.perform(send_action("ll-a"))
