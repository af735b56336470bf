"""`check()` cases: a cheap, honest answer about reachability and credentials."""

from __future__ import annotations

from typing import ClassVar

from lifeline_hub.core.conformance.cases import case
from lifeline_hub.core.conformance.rig import Rig
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import Connector


def secrets_of(credentials: Credentials | None) -> list[str]:
    """The secret values of a connection: its password and every string extra long enough to be a secret."""
    if credentials is None:
        return []
    values = [credentials.password, *credentials.extra.values()]
    return [v for v in values if isinstance(v, str) and len(v) >= 6]


class CheckCases:
    connector: ClassVar[type[Connector]]

    def bad_credentials(self, good: Credentials | None) -> Credentials:
        """Credentials the emulator refuses; default: the good ones with a wrong password (override when the
        secret lives elsewhere)."""
        if good is None or not good.password:
            raise NotImplementedError(f"{type(self).__name__}: override bad_credentials(good) for this connection")
        return Credentials(conn_id=good.conn_id, conn_type=good.conn_type, host=good.host, login=good.login,
                           password=f"wrong-{good.password}", port=good.port, schema=good.schema, extra=good.extra)

    @case()
    def check_passes_with_good_credentials(self, rig: Rig) -> None:
        """`check()` with the emulator's own credentials answers ok."""
        result = rig.connector().check()
        assert result.ok, result.message

    @case(applies=lambda suite: suite.connector.check is not Connector.check)
    def check_fails_cleanly_with_bad_credentials(self, rig: Rig) -> None:
        """`check()` with refused credentials answers not-ok (it does not raise), and its message does not
        echo a secret."""
        bad = self.bad_credentials(rig.credentials)
        result = rig.connector(bad).check()
        assert not result.ok, result.message
        for secret in secrets_of(bad):
            assert secret not in result.message

