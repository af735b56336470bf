"""A burst of reminders to ONE interviewer through the real `wecom` connector, against WeCom's per-member limits.

WeCom takes at most 30 app messages per minute (and 1,000 per hour) per member and drops the excess *silently*
(wecom-wechat.md §3), so only the connector's own per-member limiter keeps them from vanishing. 150 reminders
(distinct content, one outbox row each) go to one interviewer through `perform` over loopback HTTP to the emulator,
on a fake clock (the limiter's waits move it instantly; the run takes seconds). The emulator sees each call up to
0.5 s later than it was paced (random network time on its clock), which the limiter's skew margin must absorb.
Printed:
- `wecom_quota_breaches`: messages the emulator counted over a per-member or per-API limit (goal 0);
- `wecom_messages_per_minute`: messages that reached the interviewer per whole virtual minute of the burst
  (goal >= 27, 90 % of the 30/min allowance).
"""

from __future__ import annotations

import random

from lifeline_hub.connectors.wecom.testing import emulated
from lifeline_hub.core.http.clock import use_clock
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.models import Action, from_epoch_seconds

INTERVIEWER = "iv01"
NETWORK_SECONDS = 0.5


def per_minute(arrivals: list[float]) -> float:
    """Arrivals per whole minute from the first one (a partial last minute would flatter or hide the rate)."""
    if not arrivals:
        return 0.0
    minutes = int((arrivals[-1] - arrivals[0]) // 60)
    if minutes == 0:
        return float(len(arrivals))
    return sum(1 for at in arrivals if at < arrivals[0] + 60 * minutes) / minutes


def run(quick: bool) -> dict[str, float]:
    reminders = 60 if quick else 150
    clock, jitter = FakeClock(), random.Random(15)
    with emulated(now=lambda: clock.time() + jitter.uniform(0, NETWORK_SECONDS)) as wc, use_clock(clock):
        connector = wc.connector()
        for i in range(reminders):
            payload = {"recipients": [INTERVIEWER], "title": f"Interview {i} today", "audience": "staff",
                       "text": f"Candidate {i}, 10:00, room 3", "purpose": "reminder_t1h"}
            connector.perform(Action(idempotency_key=f"bench-wecom-{i}", tenant="bench", connector="acme.wecom",
                                     kind="send_message", payload=payload, due_at=from_epoch_seconds(clock.time())))
        arrivals = wc.world.arrivals(INTERVIEWER)
        assert len(arrivals) + len(wc.world.dropped) == reminders, "every reminder reaches WeCom once"
        return {"wecom_quota_breaches": wc.world.quota_breaches(), "wecom_messages_per_minute": per_minute(arrivals)}
