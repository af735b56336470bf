"""The official DingTalk SDK (`alibabacloud-dingtalk`, Tea models) as contracts for the new host's answers.

Each SDK module's `client.py` names, per call, its `action`, `pathname` and `method`; the action's
`<Action>Response` model holds the answer (`body`, or none: an empty answer). A Tea model's wire keys
are what `to_map()` writes for each `__init__` parameter, its types that parameter's annotation.
`check(body, model)` lists every difference: a key the model lacks, a value not of the declared type,
a JSON null (the SDK's `from_map` has no use for one: DingTalk omits a value or answers it empty).
"""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from Tea.model import TeaModel

SDK = "alibabacloud_dingtalk"
MODULES = ("oauth2_1_0", "robot_1_0", "todo_1_0", "calendar_1_0", "workflow_1_0", "ats_1_0", "attendance_1_0")
_CALL = re.compile(r"action='(\w+)',.*?pathname=f'([^']+)',\s*method='(\w+)'", re.S)
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


@dataclass(frozen=True)
class SdkCall:
    """One call of the SDK: where its answer's model lives."""

    module: str
    action: str

    @property
    def source(self) -> str:
        return f"{SDK}/{self.module}/client.py `{self.action}`, models.py `{self.action}Response`"

    def body_model(self) -> type[TeaModel] | None:
        """The answer's body model; None when the SDK expects no body."""
        models = importlib.import_module(f"{SDK}.{self.module}.models")
        response = getattr(models, f"{self.action}Response")
        hint = inspect.signature(response.__init__).parameters.get("body")
        return None if hint is None else typing.cast(type[TeaModel], hint.annotation)


def template(path: str) -> str:
    """A path with every `{placeholder}` blanked, so the SDK's and the emulator's spellings compare."""
    return _PLACEHOLDER.sub("{}", path)


@cache
def calls() -> dict[str, SdkCall]:
    """`METHOD /path` (placeholders blanked) -> the SDK call, for every call of `MODULES`."""
    package = Path(importlib.import_module(SDK).__file__ or "").parent
    found: dict[str, SdkCall] = {}
    for module in MODULES:
        source = (package / module / "client.py").read_text(encoding="utf-8")
        for action, path, method in _CALL.findall(source):
            found.setdefault(f"{method} {template(path)}", SdkCall(module, action))
    return found


@cache
def fields(model: type[TeaModel]) -> dict[str, Any]:
    """Wire key -> declared type of a Tea model (what `to_map()` writes for each attribute)."""
    out: dict[str, Any] = {}
    empty = model().to_map()  # lists of models are written even when unset (as [])
    for name, param in inspect.signature(model.__init__).parameters.items():
        if name == "self":
            continue
        instance = model()
        setattr(instance, name, _sample(param.annotation))
        keys = [k for k, v in instance.to_map().items() if k not in empty or v != empty[k]]
        assert len(keys) == 1, f"{model.__name__}.{name} maps to {keys}"
        out[keys[0]] = param.annotation
    return out


def _sample(kind: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is list:
        return [_sample(args[0])]
    if origin is dict:
        return {"key": _sample(args[1])}
    if isinstance(kind, type) and issubclass(kind, TeaModel):
        return kind()
    return object()


def check(value: Any, kind: Any, where: str = "body") -> list[str]:
    """Differences between `value` (parsed JSON) and the declared type `kind`."""
    if value is None:
        return [f"{where}: null"]
    if kind is Any:
        return []
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if isinstance(kind, type) and issubclass(kind, TeaModel):
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, the model is an object ({kind.__name__})"]
        declared = fields(kind)
        out = [f"{where}.{k}: not in {kind.__name__}" for k in value if k not in declared]
        for key, item in value.items():
            if key in declared:
                out += check(item, declared[key], f"{where}.{key}")
        return out
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, the model has a list"]
        return [d for i, item in enumerate(value) for d in check(item, args[0], f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, the model has a map"]
        return [d for k, item in value.items() for d in check(item, args[1], f"{where}.{k}")]
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    return [] if ok else [f"{where}: {type(value).__name__} {value!r:.40}, the model has {kind.__name__}"]
