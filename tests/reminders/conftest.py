"""Fixtures of the reminder tests: the SMS and e-mail emulators and a tenant that sends through them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.connectors.aliyun_sms.emulator import create_app
from lifeline_hub.connectors.aliyun_sms.emulator_state import EmulatorSettings, SmsWorld
from lifeline_hub.connectors.email.emulator_state import MailWorld
from lifeline_hub.core.config import Config
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.store import Store
from tests.reminders.reminder_helpers import SIGN, SMS_KEY, make_config, sms_templates


@pytest.fixture
def sms() -> Iterator[SmsWorld]:
    world = SmsWorld(EmulatorSettings(sign_names=[SIGN], templates=sms_templates(), limit_day=None,
                                      push_background=False, delivery_delay_seconds=0))
    yield world
    world.close()


@pytest.fixture
def mail() -> Iterator[MailWorld]:
    world = MailWorld().start()
    yield world
    world.close()


@pytest.fixture
def config(tmp_path: Path, store: Store, sms: SmsWorld, mail: MailWorld,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    monkeypatch.setenv("AIRFLOW_CONN_LL_REM_SMS", json.dumps({"conn_type": "aliyun_sms", "login": SMS_KEY[0],
                                                              "password": SMS_KEY[1]}))
    with LoopbackServer(create_app(world=sms)) as server:
        yield make_config(tmp_path, store.url, sms_url=server.url, smtp_url=mail.url)
