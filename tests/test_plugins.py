"""Plugin isolation, proven with a real third-party distribution installed by the test harness."""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.core import api
from lifeline_hub.core.airflow.manifest import Manifest
from lifeline_hub.core.api import PLUGIN_API, Connector
from lifeline_hub.core.models import AppointmentThread, Interview
from lifeline_hub.core.plugins import ENTRY_POINT_GROUP, IncompatiblePlugin, PluginHost
from tests.conftest import ROOT, run_cli

TEST_DIST = ROOT / "tests" / "plugins" / "lifeline-testplugins"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip install` the test plugins into a directory of their own (the venv stays clean)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(TEST_DIST)],
                   check=True, capture_output=True, timeout=300)
    return target


@pytest.fixture
def host(plugin_site: Path) -> Iterator[PluginHost]:
    eps = list(md.entry_points(group=ENTRY_POINT_GROUP))  # the built-ins
    eps += [ep for dist in md.distributions(path=[str(plugin_site)]) for ep in dist.entry_points
            if ep.group == ENTRY_POINT_GROUP]
    sys.path.insert(0, str(plugin_site))
    try:
        yield PluginHost().load_entry_points(eps)
    finally:
        sys.path.remove(str(plugin_site))
        for name in [m for m in sys.modules if m.startswith("lifeline_testplugins")]:
            del sys.modules[name]


def test_good_plugins_load_and_broken_ones_are_reported_and_skipped(host: PluginHost) -> None:
    status = host.plugins
    assert status["greeter"].status == "loaded"
    assert status["greeter"].distribution == "lifeline-testplugins"
    assert status["greeter"].hooks == ["lifeline_register_connectors"]
    assert host.connector("greeter").__name__ == "Greeter"

    broken = status["broken_import"]
    assert broken.status == "failed"
    assert "ModuleNotFoundError" in (broken.error or "")
    assert "lifeline_module_that_does_not_exist" in broken.describe_failure()
    assert "lifeline-testplugins 0.0.1" in broken.describe_failure()

    dup = status["impostor"]
    assert dup.status == "failed" and "'greeter' is already registered by plugin 'greeter'" in (dup.error or "")
    assert host.connectors["greeter"].__module__ == "lifeline_testplugins.good"  # the first one stays

    bad = status["bad_settings"]
    assert bad.status == "failed" and "settings_model must be a pydantic model" in (bad.error or "")
    assert "bad_settings" not in host.connectors
    assert not host.pm.has_plugin("bad_settings")


def test_a_raising_hook_is_recorded_and_the_call_goes_on(host: PluginHost) -> None:
    iv = Interview(source="s", remote_id="r", kind="video", start_at="2026-01-01T00:00:00Z",
                   end_at="2026-01-01T01:00:00Z", thread=AppointmentThread(thread_id="t", ical_uid="u"))
    assert host.classify(iv, []) is None
    assert [(p.plugin, p.hook) for p in host.runtime_problems] == [("raising_hook", "lifeline_classify")]
    assert "classifier exploded" in host.runtime_problems[0].error


def test_unknown_connector_names_the_failed_plugin(host: PluginHost) -> None:
    with pytest.raises(LookupError, match=r"unknown connector plugin 'bad_settings'.*skipped"):
        host.connector("bad_settings")


def _cli_plugins(plugin_site: Path, **env: str) -> tuple[list[dict[str, object]], str]:
    result = run_cli("plugins", "--json", env={"PYTHONPATH": str(plugin_site), **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_cli_lists_plugins_and_warns_about_broken_ones(plugin_site: Path) -> None:
    plugins, stderr = _cli_plugins(plugin_site)
    by_name = {p["name"]: p for p in plugins}
    assert by_name["greeter"]["status"] == "loaded"
    assert by_name["broken_import"]["status"] == "failed"
    assert "plugin 'broken_import' (distribution lifeline-testplugins 0.0.1) skipped" in stderr
    builtins = [p for p in plugins if p["builtin"]]
    assert all(p["status"] == "loaded" for p in builtins)
    table = run_cli("plugins", env={"PYTHONPATH": str(plugin_site)})
    assert table.returncode == 0 and "greeter" in table.stdout and "failed" in table.stdout


def test_disabled_plugins_are_blocked(plugin_site: Path) -> None:
    plugins, stderr = _cli_plugins(plugin_site, LIFELINE_DISABLE_PLUGINS="broken_import, greeter")
    by_name = {p["name"]: p for p in plugins}
    assert by_name["greeter"]["status"] == "disabled"
    assert by_name["broken_import"]["status"] == "disabled"
    assert "broken_import" not in stderr
    # with greeter blocked, the impostor is no longer a duplicate
    assert by_name["impostor"]["status"] == "loaded"


def test_a_plugin_built_for_another_major_api_is_refused_with_the_reason_and_the_others_load(
        host: PluginHost) -> None:
    future = host.plugins["future_api"]
    assert future.status == "failed"
    assert future.error == (f"IncompatiblePlugin: built for plugin API 2.0, lifeline-hub {md.version('lifeline-hub')} "
                            "provides plugin API 1.0 (another major version): install a release of the plugin "
                            "built for 1.x")
    assert "future" not in host.connectors and not host.pm.has_plugin("future_api")
    assert (host.plugins["greeter"].status, host.plugins["greeter"].api) == ("loaded", "1.0")
    assert (host.plugins["raising_hook"].status, host.plugins["raising_hook"].api) == ("loaded", None)
    assert {p.api for p in host.plugins.values() if p.builtin} == {"1.0"}


class Declares:
    def __init__(self, api: object) -> None:
        self.LIFELINE_PLUGIN_API = api


@pytest.mark.parametrize(("declared", "refusal"), [
    ((1, 0), None),
    ([1, 0], None),
    ((1, PLUGIN_API[1] + 1), r"built for plugin API 1\.1, lifeline-hub \S+ provides plugin API 1\.0: upgrade "
                             r"lifeline-hub$"),
    ((0, 9), r"built for plugin API 0\.9, .* \(another major version\)"),
    ((2, 0), r"built for plugin API 2\.0, .* \(another major version\)"),
    ("1.0", r"LIFELINE_PLUGIN_API must be \(major, minor\), two integers, got '1\.0'"),
    ((1,), r"must be \(major, minor\)"),
    ((True, 0), r"must be \(major, minor\)"),
    ((1, -1), r"must be \(major, minor\)"),
])
def test_the_declared_api_is_checked_before_anything_registers(declared: object, refusal: str | None) -> None:
    host = PluginHost()
    if refusal is None:
        host.register(Declares(declared), "p")
        assert host.plugins["p"].api == "1.0" and host.pm.has_plugin("p")
        return
    with pytest.raises(IncompatiblePlugin, match=refusal):
        host.register(Declares(declared), "p")
    assert not host.pm.has_plugin("p")


def test_cli_and_manifest_show_the_refused_plugin_like_any_load_failure(plugin_site: Path, tmp_path: Path) -> None:
    path = tmp_path / "lifeline-plugins.json"
    env = {"PYTHONPATH": str(plugin_site), "LIFELINE_PLUGIN_MANIFEST": str(path)}
    table = run_cli("plugins", "--manifest", env=env)
    assert table.returncode == 0, table.stderr
    assert "future_api: failed: IncompatiblePlugin: built for plugin API 2.0" in table.stdout
    assert "raising_hook: declares no LIFELINE_PLUGIN_API; loaded as built for plugin API 1.0" in table.stdout
    assert "plugin 'future_api' (distribution lifeline-testplugins 0.0.1) skipped: IncompatiblePlugin" in table.stderr
    assert "not loaded: " in table.stderr and "future_api" in table.stderr
    problem = Manifest.read(path).problem("future_api")
    assert problem is not None and problem.startswith(
        "plugin 'future_api' (distribution lifeline-testplugins 0.0.1) failed to load: IncompatiblePlugin: built for "
        "plugin API 2.0")


def test_a_connection_type_declared_again_with_another_form_is_refused(host: PluginHost) -> None:
    clash = host.plugins["form_clash"]
    assert clash.status == "failed"
    assert clash.error == ("PluginError: connector 'clash': connection type 'dingtalk' is already declared with "
                           "another form")
    forms = {form.conn_type: form for form in host.connection_forms()}
    assert list(forms) == ["aiplatform", "aliyun_sms", "dingtalk", "email", "feishu", "weaver", "wechat", "wecom",
                           "greeter"]
    assert forms["dingtalk"].hook_name == "DingTalk (Lifeline)"
    assert next(p for p in host.describe() if p["name"] == "form_clash")["connection_types"] == []


def test_the_public_api_resolves_every_name_and_loads_test_pieces_on_first_use() -> None:
    code = ("import sys; import lifeline_hub.core.api as api; "
            "heavy = [m for m in ('fastapi', 'uvicorn', 'vcr') if m in sys.modules]; "
            "names = [getattr(api, n) for n in api.__all__]; "
            "print(heavy, api.PLUGIN_API, api.EmulatorWorld.__module__, api.cassette.__module__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == ["[]", "(1,", "0)", "lifeline_hub.core.emulator", "lifeline_hub.core.testkit"]


def test_a_deprecated_name_warns_and_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(api.DEPRECATED, "OldConnector", ("lifeline_hub.core.connector:Connector", "Connector"))
    with pytest.warns(DeprecationWarning, match=r"api\.OldConnector is deprecated .* use Connector"):
        assert api.OldConnector is Connector
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        _ = api.NoSuchName
