"""Hire interviews bring their candidates: application -> talent -> Candidate with masked contacts,
read once per talent (the cursor remembers), unknown talents skipped, garbled ones quarantined."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa
from feishu_kit import T0, rig

from lifeline_hub.connectors.feishu.emulator import CORRUPTIONS, corrupt
from lifeline_hub.connectors.feishu.streams import _candidate
from lifeline_hub.core import Checkpoint, Malformed
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.models import Candidate, Channel, Interview, canonical_id
from lifeline_hub.core.store import Store, schema
from lifeline_hub.core.sync import sync_stream

HOUR_MS = 3_600_000
NOW_MS = int(T0 * 1000)
MOBILE, EMAIL = "13812345678", "wang.fang@example.com"


def records(items: list[Any], kind: type[Any]) -> list[Any]:
    return [i for i in items if isinstance(i, kind)]


def test_an_added_talent_becomes_the_interviews_candidate_in_the_store(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with rig() as r:
        r.world.add_talent("9001", "王芳", mobile=MOBILE, email=EMAIL)
        iid = r.world.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        summary = sync_stream(store, r.setup, "interviews", r.connector)
        assert summary.error is None and r.calls("hire.talent.get") == 1 and r.calls("hire.application.get") == 1
        state = store.stream_state("acme.feishu", "interviews")
        assert state.cursor["seen"][iid][5] == "9001" and set(state.cursor["talents"]) == {"9001"}
        assert state.watermark is not None
    with store.engine.connect() as conn:
        interview = conn.execute(sa.select(schema.interviews).where(schema.interviews.c.remote_id == iid)).one()
        candidate = conn.execute(sa.select(schema.candidates)).one()
        points = {row.channel: row for row in conn.execute(sa.select(schema.contact_points))}
    assert interview.candidate_id == candidate.id == canonical_id("acme.feishu", "9001")
    assert candidate.name == "王芳"
    assert points["sms"].masked == "138****5678" and points["sms"].value == "+8613812345678"
    assert points["email"].masked == "w***@example.com"
    assert store.contact(candidate.id, Channel.sms) is not None
    logged = caplog.text
    assert MOBILE not in logged and EMAIL not in logged


def test_a_second_run_does_not_read_the_talent_again_until_rescheduled() -> None:
    with rig() as r:
        w = r.world
        w.add_talent("9001", "Wang Fang", mobile=MOBILE)
        first = w.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        second = w.add_hire_interview("7002", "9001", NOW_MS + 5 * HOUR_MS, NOW_MS + 6 * HOUR_MS)
        items = r.read("interviews")
        (candidate,) = records(items, Candidate)  # two interviews, one talent, one read
        assert r.calls("hire.talent.get") == 1 and r.calls("hire.application.get") == 2
        got = {i.remote_id: i for i in records(items, Interview)}
        assert got[first].candidate_id == got[second].candidate_id == candidate.id
        cursor = items[-1].cursor
        items = r.read("interviews", dict(cursor))
        assert records(items, Candidate) == [] and len(records(items, Interview)) == 2
        assert r.calls("hire.talent.get") == 1 and r.calls("hire.application.get") == 2  # all from the cursor
        assert all(i.candidate_id == candidate.id for i in records(items, Interview))
        w.add_talent("9001", "Wang Fang", mobile="13912345678")
        w.update_hire_interview(first, begin_time=NOW_MS + 3 * HOUR_MS, end_time=NOW_MS + 4 * HOUR_MS)
        items = r.read("interviews", dict(items[-1].cursor))
        (again,) = records(items, Candidate)  # a reschedule reads its talent again
        assert [p.masked for p in again.contacts] == ["139****5678"] and r.calls("hire.talent.get") == 2
        r.clock.advance(86400 + 60)
        items = r.read("interviews", dict(items[-1].cursor))
        assert len(records(items, Candidate)) == 1 and r.calls("hire.talent.get") == 3  # a day later


def test_an_unknown_talent_yields_no_candidate_and_no_failure() -> None:
    with rig() as r:
        iid = r.world.add_hire_interview("7001", "9009", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        items = r.read("interviews")
        assert records(items, Candidate) == [] and records(items, Malformed) == []
        (interview,) = records(items, Interview)
        assert interview.remote_id == iid and interview.candidate_id == "acme.feishu/9009"
        mark = items[-1]
        assert isinstance(mark, Checkpoint) and mark.watermark is not None
        assert "9009" in mark.cursor["talents"]  # not asked again on every run
        r.read("interviews", dict(mark.cursor))
        assert r.calls("hire.talent.get") == 1


def test_a_garbled_talent_is_quarantined_and_the_interview_kept() -> None:
    with rig() as r:
        r.world.add_talent("9001", "Wang Fang", mobile=MOBILE, email=EMAIL)
        iid = r.world.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        r.world.faults.configure(Faults(malformed=0.5, seed=15))  # rolls 0.97, 0.01: the listing passes,
        items = r.read("interviews")  # the talent answer is garbled
        r.world.faults.configure(Faults())
        (bad,) = records(items, Malformed)
        assert bad.remote_id == "9001" and bad.reason.startswith("talent: ")
        assert MOBILE not in repr(bad.payload) and EMAIL not in repr(bad.payload)
        (interview,) = records(items, Interview)
        assert interview.remote_id == iid and interview.candidate_id == "acme.feishu/9001"
        mark = items[-1]
        assert isinstance(mark, Checkpoint) and mark.watermark is None and "9001" not in mark.cursor["talents"]
        (candidate,) = records(r.read("interviews", dict(mark.cursor)), Candidate)  # read again next run
        assert candidate.remote_id == "9001"


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("pick", [0.0, 0.99])
def test_every_emulated_corruption_of_a_talent_is_malformed(how: str, pick: float) -> None:
    with rig() as r:
        good = {"talent_id": "9001", "basic_info": {"name": "Pat", "mobile_code": "86", "mobile_number": MOBILE}}
        assert isinstance(_candidate(r.connector, "9001", good, "Asia/Shanghai"), Candidate)
        bad = _candidate(r.connector, "9001", corrupt(good, ("talent_id", "basic_info"), how, pick), "Asia/Shanghai")
        assert isinstance(bad, Malformed) and bad.remote_id == "9001" and MOBILE not in repr(bad.payload)


@pytest.mark.parametrize(
    ("code", "mobile", "e164"),
    [("86", "13812345678", "+8613812345678"), ("+1", "2025550123", "+12025550123"),
     ("44", "07911123456", "+447911123456")],
)  # fmt: skip
def test_the_mobile_is_read_with_its_country_code(code: str, mobile: str, e164: str) -> None:
    with rig() as r:
        r.world.add_talent("9001", "Pat", mobile=mobile, mobile_code=code)
        r.world.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        (candidate,) = records(r.read("interviews"), Candidate)
        (phone,) = candidate.contacts
        assert phone.channel is Channel.sms and phone.value.get_secret_value() == e164


def test_an_invalid_mobile_quarantines_the_talent() -> None:
    with rig() as r:
        r.world.add_talent("9001", "Pat", mobile="12345", email=EMAIL)
        r.world.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        items = r.read("interviews")
        (bad,) = records(items, Malformed)
        assert bad.remote_id == "9001" and "phone" in bad.reason and "12345" not in bad.reason
        assert len(records(items, Interview)) == 1


def test_without_the_talent_scope_interviews_are_read_without_candidates(caplog: pytest.LogCaptureFixture) -> None:
    with rig(emulator={"scopes": ["hire:interview:readonly", "hire:application:readonly"]}) as r:
        r.world.add_talent("9001", "Wang Fang", mobile=MOBILE)
        r.world.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        r.world.add_hire_interview("7002", "9001", NOW_MS + 3 * HOUR_MS, NOW_MS + 4 * HOUR_MS)
        items = r.read("interviews")
        assert records(items, Candidate) == [] and len(records(items, Interview)) == 2
        assert r.calls("hire.talent.get") == 1  # asked once, then not again this run
        assert "hire:talent:readonly" in caplog.text
        assert items[-1].cursor["talents"] == {}


def test_an_old_cursor_without_talents_is_upgraded() -> None:
    with rig() as r:
        r.world.add_talent("9001", "Wang Fang", email=EMAIL)
        iid = r.world.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS)
        entry = r.read("interviews")[-1].cursor["seen"][iid][:5]
        items = r.read("interviews", {"seen": {iid: entry}})
        assert len(records(items, Candidate)) == 1 and items[-1].cursor["seen"][iid][5] == "9001"


def test_drive_add_talent_over_http() -> None:
    import requests

    with rig() as r:
        reply = requests.post(f"{r.url}/_emulator/drive/add_talent",
                              json={"talent_id": "9001", "name": "Pat", "mobile": MOBILE}, timeout=5)  # fmt: skip
        assert reply.status_code == 200
        state = requests.get(f"{r.url}/_emulator/state", timeout=5).json()
        assert state["talents"] == [{"talent_id": "9001", "name": "Pat", "mobile_code": "86",
                                     "mobile_number": "138****5678", "email": None}]  # fmt: skip
