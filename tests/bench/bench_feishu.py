"""Feishu read-receipt polling: `read_users` for 5,000 bot messages (600 with --quick) against the
emulator at the documented tier (1000/min & 50/s per app), real time, the connector's default 8 concurrent pollers.

Round 1 polls every message (70% already read); 15% more are read; round 2 polls again.

- `feishu_read_users_quota_share`: round-1 calls / the most calls the documented tiers admit in
  the span from its first to its last call (a perfect client calling as early as both windows allow).
- `feishu_quota_breaches`: calls the emulator counted over any tier (a real tenant would get 99991400).
- `feishu_calls_per_settled_message`: round-2 calls for messages round 1 already settled / their number.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lifeline_hub.connectors.feishu.common import FeishuSettings
from lifeline_hub.connectors.feishu.emulator import FeishuWorld, create_app
from lifeline_hub.connectors.feishu.plugin import FeishuConnector
from lifeline_hub.core import Checkpoint, Credentials, Instance
from lifeline_hub.core.emulator import LoopbackServer

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
TIERS = ((1000, 60.0), (50, 1.0))


class CallLog:
    """ASGI wrapper noting when each read_users request arrived and for which message."""

    def __init__(self, app: ASGI) -> None:
        self.app = app
        self.hits: list[tuple[float, str]] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path.endswith("/read_users"):
            self.hits.append((time.monotonic(), path.split("/")[-2]))
        await self.app(scope, receive, send)


def allowed(span: float) -> int:
    """The most calls both documented tiers admit together in a closed span of `span` seconds: a
    perfect client placing each call as early as every sliding window allows."""
    times: list[float] = []
    while True:
        at = max([times[-1] if times else 0.0, *(times[-limit] + per for limit, per in TIERS if len(times) >= limit)])
        if at > span:
            return len(times)
        times.append(at)


def poll(connector: FeishuConnector, cursor: dict[str, Any]) -> dict[str, Any]:
    last = list(connector.read("receipts", cursor))[-1]
    assert isinstance(last, Checkpoint)
    return dict(last.cursor)


def run(quick: bool) -> dict[str, float]:
    total = 600 if quick else 5000
    world = FeishuWorld()
    calls = CallLog(create_app(world=world))
    users = [world.add_user(f"candidate{i}") for i in range(total // 10)]
    inbox, settled = [], set()
    for i in range(total):
        user = users[i % len(users)]
        message_id = world.add_bot_message(user["chat_id"], f"reminder {i}")
        inbox.append({"message_id": message_id, "recipient": f"open_id:{user['open_id']}",
                      "sent_ms": world.messages[message_id].created_ms})  # fmt: skip
        if i % 20 < 14:
            world.mark_read(message_id, user["open_id"])
            settled.add(message_id)
    s = world.settings
    creds = Credentials("feishu_bench", login=s.app_id, password=s.app_secret)
    try:
        with LoopbackServer(calls) as server:
            instance = Instance("bench", "bench.feishu", base_urls={"open": server.url})
            connector = FeishuConnector(instance, FeishuSettings(), creds)
            cursor = poll(connector, {"inbox": inbox})
            first = list(calls.hits)
            for n, entry in enumerate(inbox):
                if n % 20 in (14, 15, 16) and entry["message_id"] not in settled:
                    world.mark_read(entry["message_id"], entry["recipient"].removeprefix("open_id:"))
            poll(connector, cursor)
    finally:
        world.close()
    span = first[-1][0] - first[0][0]
    again = [m for _, m in calls.hits[len(first) :] if m in settled]
    return {
        "feishu_read_users_quota_share": len(first) / allowed(span),
        "feishu_quota_breaches": float(sum(sum(apis.values()) for apis in world.breaches().values())),
        "feishu_calls_per_settled_message": len(again) / len(settled),
    }
