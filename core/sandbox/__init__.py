"""The sandbox: a simulated recruiting world with known ground truth, acting on the vendor emulators.

    bookings = draw(seed, n, days, now, zone_offset)          # who, when, and how they tend to behave
    sandbox = Sandbox(config, tenant, worlds, receiver_url, bookings, seed)
    sandbox.setup(); sandbox.observe(); sandbox.advance_to(t); sandbox.settle(t)

`lifeline demo` (core.demo) runs the real pipeline against it over virtual days; `make airflow`
(core.airflow.standalone) lets it act in real time beside the scheduler (`Sandbox.run_live`).
"""

from lifeline_hub.core.sandbox.population import Booking, Intent, Kind, Traits, draw
from lifeline_hub.core.sandbox.world import Sandbox, truth_of, worlds_of

__all__ = ["Booking", "Intent", "Kind", "Sandbox", "Traits", "draw", "truth_of", "worlds_of"]
