"""End to end: plan, dispatch through the real SMS emulator and a loopback SMTP server, receipts, re-runs."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from lifeline_hub.connectors.aliyun_sms.emulator_state import SmsWorld
from lifeline_hub.connectors.email.emulator_state import MailWorld
from lifeline_hub.core.config import Config
from lifeline_hub.core.connector import ActionResult, Connector
from lifeline_hub.core.models import Action
from lifeline_hub.core.outbox import Sinks, dispatch
from lifeline_hub.core.reminders import plan_reminders
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import build_connector, sync_stream
from tests.email.mail_helpers import calendar_of, parse
from tests.reminders.reminder_helpers import (
    NOW,
    TENANT,
    candidate,
    interview,
    outbox,
    purposes,
)


class KeepingSinks(Sinks):
    """Hands `ActionResult.records`/`.handoff` to dispatch as `detail` keys, the form `lifeline_hub.core.outbox.results`
    still reads (it predates those fields); drop this once the outbox keeps them itself."""

    def get(self, action: Action) -> Connector:
        connector = super().get(action)
        perform = connector.perform

        def keeping(act: Action) -> ActionResult:
            result = perform(act)
            return dataclasses.replace(result, detail={**result.detail, "records": result.records,
                                                       "handoff": result.handoff})

        connector.perform = keeping  # type: ignore[method-assign]
        return connector


def test_each_reminder_reaches_the_candidate_exactly_once(store: Store, config: Config, sms: SmsWorld,
                                                          mail: MailWorld) -> None:
    candidate(store)
    candidate(store, "c2", phone=None, email="li.si@example.org")
    start = NOW + timedelta(hours=26)
    by_sms, by_mail = interview(store, "iv1", start), interview(store, "iv2", start, cand="c2")

    def run(hours: float) -> None:
        for _ in range(2):  # re-runs of both steps change nothing
            plan_reminders(store, TENANT, NOW + timedelta(hours=hours), config)
            dispatch(store, config, TENANT, now=NOW + timedelta(hours=hours), sinks=KeepingSinks(config, store))

    run(2)  # T-1d: unconfirmed, so a confirm request
    setup = config.setups[f"{TENANT}.sms"]
    sync_stream(store, setup, "receipts", build_connector(setup, store))  # the SMS delivery receipt
    run(25)  # T-1h: both were reached, so a plain reminder
    run(25.5)

    assert purposes(outbox(store, by_sms.id, "done")) == [("confirm_request", "send_sms"), ("reminder_t1h", "send_sms")]
    assert purposes(outbox(store, by_mail.id, "done")) == [("confirm_request", "send_email"),
                                                           ("reminder_t1h", "send_email")]
    texts = [m.content for m in sms.messages]
    assert [m.out_id for m in sms.messages] == [a.idempotency_key for a in outbox(store, by_sms.id, "done")]
    assert all("lifeline.example/j/" in t and "张三" in t for t in texts)

    received = [parse(m["raw"]) for m in mail.messages()]
    assert [m["Message-ID"].split("@")[0].strip("<") for m in received] == [
        a.idempotency_key for a in outbox(store, by_mail.id, "done")]
    _, _, ics = calendar_of(received[0])
    event = ics.walk("VEVENT")[0]
    assert str(event["UID"]) == "iv2@lifeline.test" and int(event["SEQUENCE"]) == 0
    assert "/c/" in received[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
