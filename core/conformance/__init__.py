"""The connector conformance kit: one test module gives a connector the whole contract's tests.

    # tests/test_acme_conformance.py of a plugin
    from lifeline_hub.core.conformance import ConnectorSuite, Rig, Seed, SuiteClock

    class TestAcme(ConnectorSuite):
        connector = AcmeConnector                      # its `emulator = "acme.emulator:create_app"` is served
        settings = {"corp_id": "c1", "read_timeout_seconds": 0.5}    # a valid instance table
        candidates = (Candidate(source="acme.ats", remote_id="c1", name="Zhang",
                                contacts=(ContactPoint.phone("+8613800000001"),)),)

        def make_world(self, clock: SuiteClock) -> AcmeWorld:
            return AcmeWorld(now=clock.time)           # the emulator on the suite's fake clock

        def seed_stream(self, stream: str, rig: Rig, round: int) -> Seed:
            rig.world.add_message(f"m{round}")         # new vendor data each round
            return {}                                   # or the handoff an action would give the stream

        def action_payload(self, kind: str, rig: Rig) -> Mapping[str, Any]:
            return SendMessage(recipients=("u1",), title="t", text="x").model_dump(mode="json")

        def vendor_effects(self, kind: str, rig: Rig) -> int:
            return len(rig.world.messages)             # counted at the vendor, not in Lifeline's tables

Run it with plain pytest (`pytest tests/test_acme_conformance.py`); the plugin's fixtures come from the
`pytest11` entry point `lifeline_conformance` installed with lifeline-hub. Cases that do not apply are not
generated (a connector without streams gets no stream case; without callbacks, no callback case); nothing
is skipped. Every case runs the real connector over loopback HTTP against a fresh emulator world, on a fake
clock (`SuiteClock`: retries, backoff, the rate limiter and token expiry wait on it instantly, `utcnow` and
the world read it). The cases, `test_<name>`:

settings   settings_accept_the_sample, settings_refuse_an_unknown_key, settings_refuse_a_wrong_type[key]
check      check_passes_with_good_credentials, check_fails_cleanly_with_bad_credentials
streams    stream_yields_its_declared_records, stream_checkpoints_are_monotone, stream_second_read_yields_
           nothing_new, stream_resumes_from_its_cursor, stream_quarantines_malformed_vendor_records  [stream]
actions    action_performed_twice_with_one_key_is_one_effect, action_retried_after_a_lost_response_is_one_
           effect [action]; action_failure_raises_a_typed_error [action-fault];
           action_without_permission_raises_permission_denied [action] (when `deny_permission` is given)
callbacks  callback_unsigned_or_forged_is_refused, callback_stale_or_future_is_refused, callback_delivered_
           several_times_is_stored_once, callback_concurrent_duplicates_are_stored_once,
           callback_replayed_after_the_tolerance_is_refused (connectors naming a `callback_kit`)
cassettes  cassettes_hold_no_secrets_or_contact_data

Hooks (methods of the subclass; each documented on `ConnectorSuite` and its case mixins):
make_world(clock)             required: a fresh emulator world on the fake clock
seed_stream(stream, rig, n)   required with streams: new vendor data for round n (1, then 2); returns the
                              handoff an action would give the stream ({} when it finds its data itself)
action_payload(kind, rig)     required with actions: a payload the emulator accepts
vendor_effects(kind, rig)     required with actions: vendor objects of `kind` so far, counted in the world
deny_permission(rig)          optional: make the emulator answer 403; generates the permission cases
world_settings(world)         optional: settings naming ids the emulator made, merged over `settings`
base_urls(world, url)         optional: default every `default_base_urls` key at the emulator's URL
credentials(world)            optional: default `connector.emulator_connection(world)`
bad_credentials(good)         optional: default the good ones with a wrong password
Class attributes: `connector`, `settings` (required), `tenant`, `start`, `candidates`, `fault_errors`,
`stall_seconds`, `resume_after_seconds`, `records_http`, `cassette_dir`, `known_gaps`.

Each case's docstring says what it checks. A case the connector fails today can be listed in `known_gaps`
(test id -> reason): it then runs as a strict xfail, visible in every run, failing the run once fixed.
"""

from lifeline_hub.core.conformance.actions import FAULT_ERRORS
from lifeline_hub.core.conformance.callbacks import Endpoint
from lifeline_hub.core.conformance.clock import SuiteClock
from lifeline_hub.core.conformance.rig import Rig
from lifeline_hub.core.conformance.streams import Seed
from lifeline_hub.core.conformance.suite import ConnectorSuite
from lifeline_hub.core.receiver.conformance import CallbackKit, Signature, SignedRequest

__all__ = ["FAULT_ERRORS", "CallbackKit", "ConnectorSuite", "Endpoint", "Rig", "Seed", "Signature", "SignedRequest",
           "SuiteClock"]
