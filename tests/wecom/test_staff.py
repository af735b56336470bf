"""Staff app messages and task cards through the real `wecom` connector over loopback to the emulator, on a fake
clock: message bodies, partial failures, byte limits, batches, the duplicate check, the per-member limiter, the
token and errcode handling, task cards and their clicks (end to end into the store), and recall."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from lifeline_hub.connectors.wecom import staff
from lifeline_hub.connectors.wecom.client import MemberLimiter
from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings
from lifeline_hub.connectors.wecom.testing import Emulated, emulated
from lifeline_hub.core.config import load
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.http import (
    AuthFailed,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
)
from lifeline_hub.core.http.clock import use_clock
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.models import Action, DeliveryEvent, DeliveryStatus, Notification, utcnow
from lifeline_hub.core.outbox import dispatch, enqueue
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.receiver.callbacks import store_callback
from lifeline_hub.core.store import Store

T0 = 1_800_000_000.0
JOIN, ATTENDED, NO_SHOW = "https://lifeline.test/j/1", "https://lifeline.test/h/attended", "https://lifeline.test/h/no"


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock(T0)
    with use_clock(fake):
        yield fake


@pytest.fixture
def wc(clock: FakeClock) -> Iterator[Emulated]:
    with emulated(EmulatorSettings(users=["hr01", "iv01", "iv02", "Zhang.San"], unlicensed=["iv02"]),
                  now=clock.time) as running:
        yield running


def action(kind: str, payload: dict[str, Any], key: str = "row-1") -> Action:
    return Action(idempotency_key=key, tenant="acme", connector="acme.wecom", kind=kind, payload=payload,
                  due_at=utcnow())


def message(*recipients: str, links: tuple[tuple[str, str], ...] = ((("Join", JOIN)),), text: str = "10:00, room 3",
            title: str = "Interview today") -> dict[str, Any]:
    return {"recipients": list(recipients), "title": title, "text": text, "audience": "staff",
            "purpose": "reminder_t1h", "links": [{"label": label, "url": url} for label, url in links]}


def sent(wc: Emulated) -> list[dict[str, Any]]:
    return wc.world.inspect_messages()


# ---------------------------------------------------------------- message bodies


def test_a_message_with_links_is_a_text_notice_card_opening_the_first_and_listing_the_next(wc: Emulated) -> None:
    links = (("Join", JOIN), ("Attended", ATTENDED), ("No-show", NO_SHOW))
    result = wc.connector().perform(action("send_message", message("iv01", links=links)))
    (body,) = sent(wc)
    card = body["content"]
    assert body["msgtype"] == "template_card" and card["card_type"] == "text_notice"
    assert card["card_action"] == {"type": 1, "url": JOIN}
    assert [(j["title"], j["url"]) for j in card["jump_list"]] == [("Attended", ATTENDED), ("No-show", NO_SHOW)]
    assert card["main_title"]["title"] == "Interview today" and card["sub_title_text"] == "10:00, room 3"
    assert result.remote_id == body["msgid"]


def test_textcard_and_text_carry_every_link(wc: Emulated) -> None:
    links = (("Join", JOIN), ("Attended", ATTENDED))
    wc.connector(message_type="textcard").perform(action("send_message", message("iv01", links=links), "k1"))
    wc.connector(message_type="text").perform(action("send_message", message("iv01", links=links), "k2"))
    wc.connector().perform(action("send_message", message("iv01", links=()), "k3"))
    textcard, text, plain = (m["content"] for m in sent(wc))
    assert textcard["url"] == JOIN and ATTENDED in textcard["description"]
    assert f'<a href="{JOIN}">Join</a>' in text["content"] and f'<a href="{ATTENDED}">' in text["content"]
    assert plain == {"content": "Interview today\n10:00, room 3"}


@pytest.mark.parametrize(("kind", "field", "size"), [("text", "text", 2049), ("textcard", "title", 129),
                                                     ("textcard", "text", 513)])
def test_a_field_over_its_byte_limit_is_refused_before_sending(wc: Emulated, kind: str, field: str,
                                                               size: int) -> None:
    payload = message("iv01", title="t" if field != "title" else "面" * (size // 3 + 1))
    if field == "text":
        payload["text"] = "x" * size
    with pytest.raises(InvalidRequest, match="bytes; WeCom takes at most"):
        wc.connector(message_type=kind).perform(action("send_message", payload))
    assert sent(wc) == [] and wc.world.api_calls() == 0


def test_more_links_than_a_card_holds_are_refused_not_dropped(wc: Emulated) -> None:
    links = tuple((f"L{i}", f"https://lifeline.test/{i}") for i in range(5))
    with pytest.raises(InvalidRequest, match="at most 4"):
        wc.connector().perform(action("send_message", message("iv01", links=links)))
    assert sent(wc) == []


# ---------------------------------------------------------------- partial failures


def test_invalid_and_unlicensed_members_get_failed_records_case_insensitively(wc: Emulated) -> None:
    result = wc.connector().perform(action("send_message", message("ZHANG.SAN", "Ghost", "iv02")))
    notes = {r.recipient: r for r in result.records if isinstance(r, Notification)}
    failures = {r.notification_id.rsplit("/", 1)[-1]: r.code for r in result.records if isinstance(r, DeliveryEvent)}
    assert notes["ZHANG.SAN"].status == DeliveryStatus.sent
    assert (notes["Ghost"].status, notes["iv02"].status) == (DeliveryStatus.failed, DeliveryStatus.failed)
    assert failures == {"Ghost": "invaliduser", "iv02": "unlicenseduser"}
    assert {n.audience for n in notes.values()} == {"staff"} and {n.channel for n in notes.values()} == {"wecom"}
    assert notes["Ghost"].remote_id == "row-1/Ghost"
    assert wc.world.deliveries() == [("zhang.san", result.remote_id)]


def test_nobody_valid_is_81013_and_every_member_fails_without_an_exception(wc: Emulated) -> None:
    result = wc.connector().perform(action("send_message", message("ghost1", "ghost2")))
    assert {r.status for r in result.records if isinstance(r, Notification)} == {DeliveryStatus.failed}
    assert {r.code for r in result.records if isinstance(r, DeliveryEvent)} == {"81013"}
    assert wc.world.deliveries() == []


@pytest.mark.parametrize("value", ["A|b", ["A", "b"], "", [], None])
def test_invalid_user_lists_parse_as_strings_or_arrays(value: Any) -> None:
    expected = ["a", "b"] if value else []
    assert staff.userids(value) == expected


def test_more_than_1000_members_go_in_several_sends(clock: FakeClock) -> None:
    users = [f"u{i}" for i in range(1001)]
    with emulated(EmulatorSettings(users=users), now=clock.time) as wc:
        result = wc.connector().perform(action("send_message", message(*users)))
        assert [len(m["to"]) for m in sent(wc)] == [1000, 1]
        assert len(result.detail["msgids"]) == 2 and len(wc.world.deliveries()) == 1001


# ---------------------------------------------------------------- idempotency and limits


def test_a_repeated_row_reaches_nobody_twice(wc: Emulated) -> None:
    row = action("send_message", message("iv01"))
    first = wc.connector().perform(row)
    second = wc.connector().perform(row.model_copy(update={"attempts": 2, "maybe_sent": True}))
    (body,) = sent(wc)
    assert body["duplicates"] == 1 and first.remote_id == second.remote_id
    assert wc.world.deliveries() == [("iv01", first.remote_id)]


def test_a_burst_to_one_member_is_paced_and_nothing_is_dropped(wc: Emulated, clock: FakeClock) -> None:
    connector = wc.connector()
    for i in range(40):
        connector.perform(action("send_message", message("iv01", text=f"reminder {i}"), f"k{i}"))
    assert wc.world.dropped == [] and wc.world.quota_breaches() == 0
    assert len(wc.world.deliveries()) == 40 and clock.now - T0 >= 60


def test_threads_and_connector_instances_share_one_members_windows(wc: Emulated) -> None:
    def burst(n: int) -> None:
        connector = wc.connector()  # its own instance, the same app: the same windows
        for i in range(12):
            connector.perform(action("send_message", message("iv01", text=f"t{n} r{i}"), f"t{n}-{i}"))

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wc.world.deliveries()) == 36 and wc.world.dropped == []


def test_a_used_up_hour_refuses_before_sending_instead_of_holding_the_worker(clock: FakeClock) -> None:
    limiter = MemberLimiter(per_minute=28, per_hour=2)
    limiter.reserve(["IV01"])
    limiter.reserve(["iv01", "hr01"])
    with pytest.raises(RateLimited) as refused:
        limiter.reserve(["hr01", "iv01"])
    assert refused.value.retry_after is not None and refused.value.retry_after > 3000
    limiter.reserve(["hr01"])  # hr01's second: nothing was counted by the refused call
    with pytest.raises(RateLimited):
        limiter.reserve(["hr01"])


# ---------------------------------------------------------------- token and errcodes


def test_one_token_for_every_send_and_every_instance_and_one_fetch_under_concurrency(wc: Emulated) -> None:
    connectors = [wc.connector() for _ in range(8)]
    threads = [threading.Thread(target=c.check) for c in connectors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, connector in enumerate(connectors):
        connector.perform(action("send_message", message("iv01", text=f"m{i}"), f"k{i}"))
    assert wc.world.gettoken_calls == 2  # the app Secret and the customer-contact Secret, once each


@pytest.mark.parametrize("code", [40014, 42001, 40001])
def test_a_refused_token_is_refreshed_once(wc: Emulated, code: int) -> None:
    connector = wc.connector()
    connector.check()
    calls = wc.world.gettoken_calls
    wc.world.fail_next(code)
    connector.perform(action("send_message", message("iv01")))
    assert wc.world.gettoken_calls == calls + 1 and len(wc.world.deliveries()) == 1


def test_a_token_refused_twice_is_not_refreshed_in_a_loop(wc: Emulated) -> None:
    connector = wc.connector()
    connector.check()
    calls = wc.world.gettoken_calls
    wc.world.fail_next(42001, times=5)
    with pytest.raises(TokenExpired, match="42001"):
        connector.perform(action("send_message", message("iv01")))
    assert wc.world.gettoken_calls == calls and sent(wc) == []  # the refresh itself was answered 42001
    assert wc.world.quota.calls[f"{wc.world.settings.corp_id} message.send"] == 1


@pytest.mark.parametrize(("secret", "corp"), [("wrong-secret", None), (None, "wwsomeothercorp")])
def test_bad_secret_or_corp_is_a_config_error_asked_once(wc: Emulated, secret: str | None, corp: str | None) -> None:
    credentials = wc.credentials()
    if secret:
        credentials = type(credentials)(conn_id="x", conn_type="wecom", password=secret, extra={})
    connector = wc.connector(credentials, **({"corp_id": corp} if corp else {}))
    with pytest.raises(AuthFailed, match=r"40013|40001"):
        connector.perform(action("send_message", message("iv01")))
    assert wc.world.gettoken_calls == 1
    assert not connector.check().ok


def test_45009_waits_out_wecoms_60_second_block_then_sends(wc: Emulated, clock: FakeClock) -> None:
    connector = wc.connector()
    connector.check()
    wc.world.fail_next(45009)
    connector.perform(action("send_message", message("iv01")))
    assert 60.0 in clock.sleeps and len(wc.world.deliveries()) == 1


def test_system_busy_is_retried_at_most_three_times(wc: Emulated) -> None:
    connector = wc.connector()
    connector.check()
    wc.world.fail_next(-1, times=2)
    connector.perform(action("send_message", message("iv01"), "k1"))
    wc.world.fail_next(-1, times=10)
    with pytest.raises(TransientError):
        connector.perform(action("send_message", message("iv02", "iv01", text="other"), "k2"))
    assert wc.world.take_forced() is not None  # 4 attempts used 4 of the 10: no more retries
    assert len(sent(wc)) == 1


@pytest.mark.parametrize("code", [48002, 60011, 60020])
def test_permission_errors_are_not_retried(wc: Emulated, code: int) -> None:
    connector = wc.connector()
    connector.check()
    wc.world.deny_actions(["message.send"], code)
    with pytest.raises(PermissionDenied, match=str(code)):
        connector.perform(action("send_message", message("iv01")))
    assert sent(wc) == []


def test_a_warning_in_errmsg_is_logged_and_the_errmsg_tail_never_decides(wc: Emulated,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    client = wc.connector().client
    with caplog.at_level(logging.WARNING, "lifeline.wecom"):
        body = client.request("POST", "/cgi-bin/message/send", api="message/send", data=b"{not json")
    assert body["errcode"] == 0 and "wrong json format" in caplog.text
    wc.world.fail_next(44004)
    with pytest.raises(InvalidRequest) as refused:
        client.call(staff.SEND, json={"touser": "iv01"})
    assert refused.value.code == 44004 and "hint" not in str(refused.value)


# ---------------------------------------------------------------- tasks and clicks


def test_task_ids_fit_wecoms_rules_and_are_stable() -> None:
    assert staff.task_id("row-1_a@b") == "row-1_a@b"
    odd = "acme/iv:42/create_task/hr_task/3" + "x" * 200
    assert staff.task_id(odd) == staff.task_id(odd) and staff.TASK_ID.match(staff.task_id(odd))
    assert staff.task_id(odd) != staff.task_id(odd + "y")


def test_a_task_card_click_completes_the_task_and_closes_the_card_once(wc: Emulated,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    connector = wc.connector()
    task = {"assignees": ["hr01"], "title": "Call the candidate", "description": "Did not join.",
            "links": [{"label": "Evidence", "url": "https://lifeline.test/e/7"}]}
    result = connector.perform(action("create_task", task, "acme/iv:42/task"))
    (card,) = sent(wc)
    assert card["content"]["card_type"] == "button_interaction" and card["task_id"] == result.remote_id
    assert [b["key"] for b in card["content"]["button_list"]] == ["done", "cannot"]
    (note,) = result.records
    assert isinstance(note, Notification) and note.remote_id == f"task:{result.remote_id}"

    wc.world.click("HR01", result.remote_id, "done")
    event = wc.world.pushes[-1].event
    (done,) = staff.card_event(connector, event)
    assert isinstance(done, DeliveryEvent) and done.notification_id == note.id
    assert (done.type, done.code, done.interview_id) == ("read", "done", None)
    (code,) = [c for c in wc.world.codes.values() if c.update is not None]
    assert code.update == {"userids": ["hr01"], "button": {"replace_name": "已完成"}, "template_card": None}

    with caplog.at_level(logging.WARNING, "lifeline.wecom"):
        again = staff.card_event(connector, event)  # a redelivery: the code is spent, the record is kept
    assert again == (done,) and "not updated" in caplog.text


def test_a_click_on_a_foreign_card_gives_no_record(wc: Emulated) -> None:
    event = {"Event": "template_card_event", "TaskId": "not a lifeline id!", "EventKey": "done"}
    assert staff.card_event(wc.connector(), event) == ()


def at(clock: FakeClock) -> datetime:
    return datetime.fromtimestamp(clock.time(), UTC)


def write_config(directory: Path, url: str, store_url: str) -> Path:
    path = directory / "plugins.toml"
    path.write_text("\n".join([
        "[lifeline]", f"store = {json.dumps(store_url)}", "", "[tenants.acme]", 'timezone = "Asia/Shanghai"', "",
        "[tenants.acme.connectors.wecom]", 'plugin = "wecom"', 'connection_id = "ll_test_wecom"',
        f"base_urls = {{ api = {json.dumps(url)} }}", 'corp_id = "wwemulatorcorp0001"', "agent_id = 1000002", ""]),
        encoding="utf-8")
    return path


def test_dispatched_messages_and_a_clicked_task_are_stored(wc: Emulated, clock: FakeClock, tmp_path: Path,
                                                           db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "wecom", "password": wc.credentials().password, "extra": dict(wc.credentials().extra)}
    monkeypatch.setenv("AIRFLOW_CONN_LL_TEST_WECOM", json.dumps(conn))
    config = load(write_config(tmp_path, wc.url, db_url), PluginHost().load_entry_points())
    store = Store(db_url)
    store.upgrade()
    connector = wc.connector()
    received: list[bool] = []

    app = FastAPI()

    @app.post("/callbacks/acme.wecom")
    async def callback(request: Request) -> Response:
        result = connector.handle_callback(CallbackRequest(headers=dict(request.headers),
                                                           query=dict(request.query_params),
                                                           body=await request.body(), received_at=at(clock)))
        received.append(store_callback(store, "acme", connector.instance.name, result, at(clock)))
        return Response(result.reply or "")

    try:
        now = utcnow()
        with store.begin() as db:
            enqueue(db, [action("send_message", message("iv01", "ghost"), "acme-m1").model_copy(
                update={"due_at": now, "attempts": 0, "handed_at": None}),
                action("create_task", {"assignees": ["hr01"], "title": "t", "description": "d"}, "acme-t1")
                .model_copy(update={"due_at": now, "attempts": 0, "handed_at": None})], now)
        assert dispatch(store, config, "acme", now=now).dead == 0
        assert store.count("evidence", kind="notification", audience="staff", channel="wecom") == 3
        assert store.count("evidence", kind="delivery_event", code="invaliduser") == 1
        with LoopbackServer(app) as receiver:
            wc.world.set_callback_url(f"{receiver.url}/callbacks/acme.wecom")
            wc.world.settings.deliver_in_background = False
            wc.world.click("hr01", staff.task_id("acme-t1"), "done")
            assert wc.world.deliver_pending_events() == 1
        assert received == [True]
        assert store.count("evidence", kind="delivery_event", type="read", code="done") == 1
    finally:
        store.engine.dispose()


# ---------------------------------------------------------------- recall


def test_recall_within_24_hours_only(wc: Emulated) -> None:
    connector = wc.connector()
    first = connector.perform(action("send_message", message("iv01"), "k1")).remote_id
    second = connector.perform(action("send_message", message("iv01", text="later"), "k2")).remote_id
    staff.recall(connector, first)
    assert [m["recalled"] for m in sent(wc)] == [True, False]
    wc.world.advance(24 * 3600 + 1)
    with pytest.raises(InvalidRequest):
        staff.recall(connector, second)


# ---------------------------------------------------------------- wiring


def test_the_contact_client_falls_back_to_the_app_secret_and_callbacks_need_their_extras(wc: Emulated) -> None:
    bare = Credentials(conn_id="x", conn_type="wecom", password=wc.credentials().password, extra={})
    connector = wc.connector(bare)
    assert connector.contact_client is connector.client
    with pytest.raises(CallbackRejected, match="callback_token"):
        connector.callback_crypto()
    full = wc.connector()
    assert full.contact_client is not full.client and full.callback_crypto().receive_id == "wwemulatorcorp0001"
    assert full.check().ok and wc.world.gettoken_calls == 2
