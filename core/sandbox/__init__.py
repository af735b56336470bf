"""The sandbox: a simulated recruiting world with known ground truth, acting on the vendor emulators.

    bookings = draw(seed, n, days, now, zone_offset)          # who, when, and how they tend to behave
    bookings = draw_live(seed, n, now)                        # the same, starting within the hour (make airflow)
    sandbox = Sandbox(config, tenant, worlds, receiver_url, bookings, seed)
    sandbox.setup(); sandbox.observe(); sandbox.advance_to(t); sandbox.settle(t)

`lifeline demo` (core.demo) runs the real pipeline against it over virtual days; `make airflow`
(core.airflow.standalone) lets it act in real time beside the scheduler (`Sandbox.run_live`). A plugin takes
part with a `SandboxActor` (core.sandbox.actor) its connector class names in `sandbox_actor`.
"""

from lifeline_hub.core.sandbox.actor import Role, SandboxActor, Tally, actor_class, repeats
from lifeline_hub.core.sandbox.population import (
    Booking,
    Intent,
    Kind,
    Traits,
    WeChatTraits,
    draw,
    draw_live,
    draw_wechat,
)
from lifeline_hub.core.sandbox.world import LINK, PUBLIC_URL, Sandbox, truth_of, worlds_of

__all__ = ["LINK", "PUBLIC_URL", "Booking", "Intent", "Kind", "Role", "Sandbox", "SandboxActor", "Tally", "Traits",
           "WeChatTraits", "actor_class", "draw", "draw_live", "draw_wechat", "repeats", "truth_of", "worlds_of"]
