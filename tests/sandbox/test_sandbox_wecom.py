"""The WeCom tenant's people in the real WeCom and Official Account emulator worlds: candidates add the recruiter
with a code naming them and some delete the recruiter, the recruiter confirms staged sends (or not), candidates
read what reached them, followers follow through a code naming them, HR taps its task cards; and WeChat traits
are drawn only where WeChat actors play."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from lifeline_hub.connectors.aiplatform.emulator_state import AIPlatformWorld
from lifeline_hub.connectors.wecom.emulator_state import WeComWorld
from lifeline_hub.connectors.wecom.oa_state import OaWorld
from lifeline_hub.connectors.wecom.sandbox import WeChatActor, WeComActor
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.models.time import freeze_clock, reset_clock
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.sandbox import Booking, Intent, Kind, Sandbox, Tally, Traits, WeChatTraits, draw
from tests.conftest import ROOT

START = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
"""09:30 in Beijing, a Monday: office hours."""
TENANT = "sandbox_wecom"
HOURS = timedelta(hours=1)


@pytest.fixture(scope="module")
def config() -> Config:
    return load(ROOT / "plugins.toml", get_host())


@pytest.fixture
def frozen() -> Iterator[datetime]:
    try:
        yield freeze_clock(START)
    finally:
        reset_clock()


def _booking(ref: str, wechat: WeChatTraits) -> Booking:
    traits = Traits(phone_ok=True, email_ok=True, scanner=False, sms_read=1.0, email_read=1.0, intent=Intent.attend,
                    late=False, device_trouble=False, wants_second_chance=False)
    start = START + timedelta(days=1)
    return Booking(ref, "王伟", "13800000001", f"{ref}@example.com", Kind.ai, START, start, start + 24 * HOURS, traits,
                   wechat=wechat)


def _on_wechat(contact: bool = False, follower: bool = False, deletes: bool = False,
               blocks: bool = False) -> WeChatTraits:
    return WeChatTraits(contact=contact, follower=follower, read=1.0, adds_after=timedelta(minutes=5),
                        deletes_recruiter=deletes, blocks_templates=blocks)


def _sandbox(config: Config, frozen: datetime, *bookings: Booking) -> Sandbox:
    worlds = {"wecom": WeComWorld(), "wechat": OaWorld(), "aiplatform": AIPlatformWorld()}
    for world in worlds.values():
        world.clock.freeze(frozen.timestamp())
    sandbox = Sandbox(config, TENANT, worlds, "http://127.0.0.1:9", list(bookings), seed=3)
    sandbox.setup()
    return sandbox


def _stage(sandbox: Sandbox, external: str, text: str) -> str:
    """Lifeline stages a customer-contact message to `external`, as `add_msg_template` does."""
    answer = sandbox.worlds["wecom"].contact.add_msg_template(
        {"chat_type": "single", "external_userid": [external], "sender": "recruiter01", "text": {"content": text},
         "attachments": [{"msgtype": "link", "link": {"title": "进入面试", "url": "https://jobs.example.com/j/tokentoken1"}}]})
    return str(answer["msgid"])


def _tally(sandbox: Sandbox) -> Tally:
    tally = Tally()
    for actor in sandbox.actors:
        actor.tally(tally)
    return tally


def test_wechat_traits_are_drawn_only_where_wechat_actors_play(config: Config, frozen: datetime) -> None:
    bookings = draw(4, 12, 3, START, timedelta(hours=8))
    first = Sandbox(config, "sandbox", {}, "http://127.0.0.1:9", bookings, seed=4)
    assert all(b.wechat is None for b in bookings)
    assert first.rng.random() == random.Random(4 * 7919 + 1).random()  # nothing drawn from the sandbox's RNG
    runs = []
    for _ in range(2):
        again = draw(4, 12, 3, START, timedelta(hours=8))
        Sandbox(config, TENANT, {}, "http://127.0.0.1:9", again, seed=4).on_wechat()
        runs.append([b.wechat for b in again])
    assert runs[0] == runs[1] and all(runs[0])
    assert any(w.contact for w in runs[0] if w) and any(w.follower for w in runs[0] if w)


def test_a_contact_adds_the_recruiter_reads_what_was_confirmed_and_another_deletes_the_recruiter(
        config: Config, frozen: datetime) -> None:
    stays, leaves = (_booking("req-0001", _on_wechat(contact=True)),
                     _booking("req-0002", _on_wechat(contact=True, deletes=True)))
    sandbox = _sandbox(config, frozen, stays, leaves)
    wecom: WeComWorld = sandbox.worlds["wecom"]
    sandbox.advance_to(START + timedelta(minutes=10))
    added = [p.event for p in wecom.pushes if p.event.get("ChangeType") == "add_external_contact"]
    assert [e["State"] for e in added] == [sandbox.candidate_id(b) for b in (stays, leaves)]
    assert sandbox.candidate_id(stays).startswith("sandbox_wecom.aiplatform/cand_")
    external = added[0]["ExternalUserID"]
    msgid = _stage(sandbox, external, "王伟您好，您明天的面试")
    for step in range(1, 48):  # the pipeline's half-hour steps until the interview
        sandbox.observe()
        sandbox.advance_to(START + timedelta(minutes=10 + 30 * step))
    assert wecom.contact.deliveries() == [(external, msgid)]
    assert sandbox.did["read_wecom"] == 1 and sandbox.links[stays.ref]["j"] == "tokentoken1"
    assert "reached" in stays.facts and _tally(sandbox).candidate_messages["wecom"] == 1
    gone = [p.event for p in wecom.pushes if p.event.get("ChangeType") == "del_follow_user"]
    assert [e["ExternalUserID"] for e in gone] == [added[1]["ExternalUserID"]]
    assert not wecom.contact.related("recruiter01", added[1]["ExternalUserID"])


def test_the_recruiter_confirms_on_time_late_or_never(config: Config, frozen: datetime) -> None:
    bookings = [_booking(f"req-{n:04d}", _on_wechat(contact=True)) for n in range(40)]
    sandbox = _sandbox(config, frozen, *bookings)
    sandbox.advance_to(START + timedelta(minutes=10))
    contact = sandbox.worlds["wecom"].contact
    staged = {_stage(sandbox, f"wmSandbox{b.ref.replace('-', '')}", f"{b.ref} 您好") for b in bookings}
    sandbox.observe()
    sandbox.advance_to(START + timedelta(minutes=40))
    soon = {msgid for _, msgid in contact.deliveries()}
    sandbox.advance_to(START + 12 * HOURS)
    later = {msgid for _, msgid in contact.deliveries()} - soon
    never = staged - soon - later
    assert soon and later and never and sandbox.did["recruiter_never_confirmed"] == len(never)
    assert len(soon) > len(later) + len(never)


def test_a_follower_follows_through_a_code_naming_them_and_blocked_ones_read_nothing(
        config: Config, frozen: datetime) -> None:
    reads, blocks = _booking("req-0001", _on_wechat(follower=True)), _booking("req-0002", _on_wechat(follower=True,
                                                                                                    blocks=True))
    sandbox = _sandbox(config, frozen, reads, blocks)
    oa: OaWorld = sandbox.worlds["wechat"]
    sandbox.advance_to(START + timedelta(minutes=10))
    follows = [p.event for p in oa.pushes if p.event.get("Event") == "subscribe"]
    assert [e["EventKey"] for e in follows] == [f"qrscene_{sandbox.candidate_id(b)}" for b in (reads, blocks)]
    for openid in ("oSandboxreq0001", "oSandboxreq0002"):
        oa.send_template({"touser": openid, "template_id": "TPL-interview-reminder", "url": "https://jobs.example.com/j/tokentoken2",
                          "data": {"thing1": {"value": "面试提醒"}, "time2": {"value": "明天 10:00"},
                                   "thing3": {"value": "线上"}}})
    sandbox.observe()
    sandbox.advance_to(START + 12 * HOURS)
    assert (sandbox.did["oa_delivered"], sandbox.did["oa_blocked"], sandbox.did["read_wechat"]) == (1, 1, 1)
    assert sandbox.links[reads.ref]["j"] == "tokentoken2" and "j" not in sandbox.links[blocks.ref]
    assert _tally(sandbox).candidate_messages["wechat"] == 1


def test_hr_works_a_task_card_by_tapping_a_button_and_repeats_count_as_duplicates(
        config: Config, frozen: datetime) -> None:
    sandbox = _sandbox(config, frozen)
    wecom: WeComWorld = sandbox.worlds["wecom"]
    assert [type(a).__name__ for a in sandbox.actors] == [WeChatActor.__name__, WeComActor.__name__, "PlatformActor"]
    card = {"card_type": "button_interaction", "task_id": "ll-task-1",
            "main_title": {"title": "【待处理】核实联系方式"},
            "sub_title_text": "候选人：王伟", "card_action": {"type": 1, "url": "https://jobs.example.com/hr/abc.def"},
            "button_list": [{"text": "已完成", "style": 1, "key": "done"},
                            {"text": "无法完成", "style": 2, "key": "cannot"}]}
    wecom.send(1000002, {"touser": "hr01", "agentid": 1000002, "msgtype": "template_card", "template_card": card})
    sandbox.observe()
    sandbox.advance_to(START + 12 * HOURS)
    clicks = [p.event for p in wecom.pushes if p.event.get("Event") == "template_card_event"]
    assert [(e["FromUserName"], e["TaskId"], e["EventKey"]) for e in clicks] == [("hr01", "ll-task-1", "done")]
    assert sandbox.did["hr_todos"] == sandbox.did["hr_todos_done"] == 1
    tally = _tally(sandbox)
    assert (tally.hr_tasks, tally.duplicates) == (1, 0)
    assert tally.task_samples == [{"subject": "【待处理】核实联系方式",
                                   "description": "候选人：王伟\nhttps://jobs.example.com/hr/abc.def"}]
    notice = {"touser": "hr01", "agentid": 1000002, "msgtype": "text", "text": {"content": "面试取消"}}
    wecom.send(1000002, notice)
    wecom.advance(5 * 3600)  # past WeCom's duplicate check: the same text reaches HR again
    wecom.send(1000002, notice)
    assert (_tally(sandbox).staff_messages, _tally(sandbox).duplicates) == (2, 1)


def test_two_reminders_that_read_alike_are_no_duplicate_but_one_key_twice_is(config: Config, frozen: datetime) -> None:
    """The T-3d and the T-1h reminder of one interview may carry the same template data: two sends, two keys
    (`client_msg_id`, Lifeline's outbox key). Without a key (subscription messages) the content decides."""
    follower = _booking("req-0001", _on_wechat(follower=True))
    sandbox = _sandbox(config, frozen, follower)
    oa: OaWorld = sandbox.worlds["wechat"]
    sandbox.advance_to(START + timedelta(minutes=10))
    message = {"touser": "oSandboxreq0001", "template_id": "TPL-interview-reminder",
               "url": "https://jobs.example.com/j/tokentoken3", "data": {
                   "thing1": {"value": "面试提醒"}, "time2": {"value": "明天 10:00"}, "thing3": {"value": "线上"}}}
    for key in ("ll-t3d", "ll-t1h"):
        oa.send_template({**message, "client_msg_id": key})
    sandbox.observe()
    sandbox.advance_to(START + 12 * HOURS)
    assert (_tally(sandbox).candidate_messages["wechat"], _tally(sandbox).duplicates) == (2, 0)
    for _ in range(2):
        oa.send_template(message)
    sandbox.observe()
    sandbox.advance_to(START + 24 * HOURS)
    assert (_tally(sandbox).candidate_messages["wechat"], _tally(sandbox).duplicates) == (4, 1)
