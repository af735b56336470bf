"""Vendor contract: every answer the WeCom emulator served in a run of success and error paths matches a JSON
Schema written from WeCom's documentation (no official Python SDK models exist), and is HTTP 200 as WeCom's
always are. Sources: wecom-wechat.md §2.1 (doc 91039 gettoken), §2.2 (doc 90313 envelope and error codes),
§4.1 (doc 90236 message/send response example)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from test_wecom import send  # the tests' directory is on the path (pytest's default import mode)

from lifeline_hub.core.api import Action, VendorError

from lifeline_wecom_notify.emulator import WeComWorld
from lifeline_wecom_notify.plugin import WeComNotifyConnector

ERROR = {  # doc 90313: every failure is {errcode (int, non-zero), errmsg (string with a per-call tail)}
    "type": "object", "additionalProperties": False, "required": ["errcode", "errmsg"],
    "properties": {"errcode": {"type": "integer", "not": {"const": 0}}, "errmsg": {"type": "string"}},
}
SUCCESS = {
    "/cgi-bin/gettoken": {  # doc 91039
        "type": "object", "additionalProperties": False,
        "required": ["errcode", "errmsg", "access_token", "expires_in"],
        "properties": {"errcode": {"const": 0}, "errmsg": {"type": "string"}, "access_token": {"type": "string"},
                       "expires_in": {"type": "integer", "minimum": 1, "maximum": 7200}},
    },
    "/cgi-bin/message/send": {  # doc 90236 response example; the invalid lists are "a|b" strings
        "type": "object", "additionalProperties": False, "required": ["errcode", "errmsg"],
        "properties": {"errcode": {"const": 0}, "errmsg": {"type": "string"}, "invaliduser": {"type": "string"},
                       "invalidparty": {"type": "string"}, "invalidtag": {"type": "string"},
                       "unlicenseduser": {"type": "string"}, "msgid": {"type": "string"},
                       "response_code": {"type": "string"}},
    },
}


def attempt(connector: WeComNotifyConnector, action: Action) -> None:
    with contextlib.suppress(VendorError):  # the refusals are the point here
        connector.perform(action)


@pytest.fixture
def served(make_connector: Callable[..., WeComNotifyConnector], world: WeComWorld) -> list[Any]:
    connector = make_connector()
    make_connector(secret="wrong").check()                       # 40001
    make_connector(corp_id="wwother").check()                    # 40013
    connector.perform(send(recipients=("hr01", "ghost")))        # ok with invaliduser
    connector.perform(send(key="ll-2", recipients=("ghost",)))   # 81013
    connector.perform(send(key="ll-3", links=()))                # text
    for code in (45009, -1, 42001, 48002, 60020):
        world.fail_next(code, times=10)
        attempt(connector, send(key=f"ll-{code}"))
        world.forced.clear()
    return list(world.served)


def test_every_answer_matches_the_documented_shape(served: list[Any]) -> None:
    routes = {s.route for s in served}
    assert routes == {"/cgi-bin/gettoken", "/cgi-bin/message/send"}
    codes = set()
    for answer in served:
        assert answer.status == 200, answer
        ok = answer.body.get("errcode") == 0
        jsonschema.validate(answer.body, SUCCESS[answer.route] if ok else ERROR)
        codes.add(answer.body["errcode"])
    assert codes >= {0, 40001, 40013, 81013, 45009, -1, 42001, 48002, 60020}


def test_errmsg_carries_the_tail_the_client_never_decides_on(served: list[Any]) -> None:
    errors = [s.body for s in served if s.body["errcode"] != 0]
    assert errors and all(", hint: [" in e["errmsg"] and "more info at https://open.work.weixin.qq.com" in e["errmsg"]
                          for e in errors)
