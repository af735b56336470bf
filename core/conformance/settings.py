"""Settings cases: the connector's settings model takes the sample and refuses what a typo would write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from lifeline_hub.core.conformance.cases import case
from lifeline_hub.core.connector import Connector

UNKNOWN_KEY = "no_such_setting"

_WRONG: dict[type, Any] = {bool: "maybe", int: "many", float: "many", str: ["not", "a", "string"],
                           list: "not a list", tuple: "not a list", dict: ["not", "a", "table"]}


def wrong_value(sample: Any) -> Any:
    """A value no field typed like `sample` takes (a list where a string goes, a word where a number goes...)."""
    for kind, wrong in _WRONG.items():
        if type(sample) is kind:
            return wrong
    return [{"not": "valid"}]


class SettingsCases:
    connector: ClassVar[type[Connector]]
    settings: ClassVar[Mapping[str, Any]]

    def settings_model(self) -> type[BaseModel]:
        return self.connector.settings_model

    @case()
    def settings_accept_the_sample(self) -> None:
        """The sample settings (what an instance table in plugins.toml holds) validate."""
        self.settings_model().model_validate(dict(self.settings))

    @case()
    def settings_refuse_an_unknown_key(self) -> None:
        """A key the model does not declare (a typo) is refused, naming the key: the model must set
        `model_config = ConfigDict(extra="forbid")`."""
        with pytest.raises(ValidationError) as refused:
            self.settings_model().model_validate({**self.settings, UNKNOWN_KEY: 1})
        assert UNKNOWN_KEY in str(refused.value)

    @case(param="key", values=lambda suite: sorted(suite.settings))
    def settings_refuse_a_wrong_type(self, key: str) -> None:
        """Each sample key given a value of the wrong type (a list for a string, a word for a number...) is
        refused, naming the key."""
        with pytest.raises(ValidationError) as refused:
            self.settings_model().model_validate({**self.settings, key: wrong_value(self.settings[key])})
        assert key in str(refused.value)
