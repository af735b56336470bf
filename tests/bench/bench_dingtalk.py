"""DingTalk receipt polling against the emulator's quota (20 calls/s per app per API).

5,000 work notifications (one task each, as per-interview reminders are) are sent in the world of an
emulator running in its own process (as a remote vendor would: its clock does not share this
process's GIL), handed to the `receipts` stream as dispatch hands them, and polled in one pass by
the stream's worker threads (8), which share the client's rate limiter. Printed:
- `dingtalk_receipts_quota_share`: getsendresult calls per second achieved / the quota (goal >= 0.9);
- `dingtalk_quota_breaches`: calls the emulator counted over its per-app per-API quota (goal 0).
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Event

import requests

from lifeline_hub.connectors.dingtalk.emulator import create_app
from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkWorld, EmulatorSettings
from lifeline_hub.connectors.dingtalk.receipts import GETSENDRESULT
from lifeline_hub.connectors.dingtalk.testing import Emulated
from lifeline_hub.core.connector import Checkpoint
from lifeline_hub.core.emulator import LoopbackServer, free_port
from lifeline_hub.core.models import Channel, Notification, NotificationPurpose, from_epoch_seconds

USERS = 100
SETTINGS = EmulatorSettings()  # the emulator's defaults: one app, 20 calls/s per API


def serve(port: int, sends: int, ready: Event, stop: Event) -> None:
    """The emulator process: an org whose app sent `sends` work notifications (a third read)."""
    world = DingTalkWorld(SETTINGS)
    app = world.settings.apps[0]
    for i in range(1, USERS + 1):
        world.add_user(f"u{i}", union_id=f"union{i}")
    for i in range(sends):
        user = f"u{i % USERS + 1}"
        msg = {"msgtype": "markdown", "markdown": {"title": f"Reminder {i}", "text": f"Interview {i}"}}
        notice = world.send_notice(app, msg, [user], [], False)
        if i % 3 == 0:
            world.mark_read(notice.task_id, user)
    with LoopbackServer(create_app(world=world), port):
        ready.set()
        stop.wait()


def run(quick: bool) -> dict[str, float]:
    sends = 300 if quick else 5000
    context = multiprocessing.get_context("spawn")
    ready, stop, port = context.Event(), context.Event(), free_port()
    process = context.Process(target=serve, args=(port, sends, ready, stop), daemon=True)
    process.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the DingTalk emulator process did not start")
        dt = Emulated(DingTalkWorld(SETTINGS), f"http://127.0.0.1:{port}")  # its app and org, for credentials
        connector = dt.connector()
        sent = [Notification(
            source=connector.instance.name, remote_id=f"work:{m['task_id']}:{user}",
            occurred_at=from_epoch_seconds(m["sent_at"]), purpose=NotificationPurpose.reminder_t1d,
            channel=Channel.dingtalk, recipient=user).model_dump(mode="json")
            for m in requests.get(f"{dt.url}/_emulator/state/messages", timeout=60).json() for user in m["recipients"]]
        connector.check()  # tokens before the clock starts
        started = time.monotonic()
        last = list(connector.read("receipts", {"sent": sent}))[-1]
        elapsed = time.monotonic() - started
        assert isinstance(last, Checkpoint) and last.watermark is not None
        state = requests.get(f"{dt.url}/_emulator/state", timeout=60).json()
    finally:
        stop.set()
        process.join(30)
    polls = [c["count"] for c in state["calls"] if c["api"] == f"POST {GETSENDRESULT}"]
    assert polls and polls[0] >= sends, f"{polls} polls for {sends} sends"  # refused calls count too
    return {
        "dingtalk_receipts_quota_share": polls[0] / elapsed / SETTINGS.qps_per_app_per_api,
        "dingtalk_quota_breaches": float(sum(b["count"] for b in state["qps_breaches"])),
    }
