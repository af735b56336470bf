"""The aliyun_sms callback conformance kit (see core.receiver.conformance): SmsReport pushes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lifeline_hub.connectors.aliyun_sms.records import BEIJING
from lifeline_hub.core.models import zone_info
from lifeline_hub.core.receiver.conformance import Signature, SignedRequest

PUSH_TOKEN = "conformance-push-token"  # noqa: S105 - a fake secret for the test instance


class AliyunSmsCallbackKit:
    settings: Mapping[str, Any] = {"sign_name": "面试助手"}
    connection: str | None = json.dumps({
        "conn_type": "aliyun_sms", "login": "LTAI5tConformanceKey01", "password": "conformance-access-key-secret",
        "extra": {"push_token": PUSH_TOKEN},
    })

    def event(self, event_id: str, at: datetime, signature: Signature = "valid") -> SignedRequest:
        """A one-report push: the SMS with OutId `ll-<event_id>` was delivered at `at`."""
        stamp = at.astimezone(zone_info(BEIJING)).strftime("%Y-%m-%d %H:%M:%S")
        report = {"phone_number": "13800000000", "send_time": stamp, "report_time": stamp, "success": True,
                  "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1", "biz_id": f"{event_id}^0",
                  "out_id": f"ll-{event_id}"}
        query = {"valid": {"token": PUSH_TOKEN}, "missing": {}, "forged": {"token": "not-the-token"}}[signature]
        return SignedRequest(headers={"content-type": "application/json;charset=utf-8"},
                             body=json.dumps([report], ensure_ascii=False).encode(), query=query)


def kit() -> AliyunSmsCallbackKit:
    return AliyunSmsCallbackKit()
