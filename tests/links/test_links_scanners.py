"""Machine-click detection: scanner and preview agents, HEAD, prefetch headers, opens right after delivery."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifeline_hub.core.links import classify_agent, ip_prefix_hash, machine_reason
from lifeline_hub.core.links.scanners import SCANNER_WINDOW
from lifeline_hub.core.models import utcnow

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) NetType/WIFI Language/zh_CN")
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
EDGE = CHROME + " Edg/131.0.2903.86"
DINGTALK = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36 DingTalk/7.6.0"
FEISHU = "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 Chrome/120 Safari/537.36 Lark/7.30.5 LarkLocale/zh_CN"
CUBOT_PHONE = "Mozilla/5.0 (Linux; Android 12; CUBOT Note 30) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"


@pytest.mark.parametrize(("agent", "family"), [
    (CHROME, "chrome"), (WECHAT, "wechat"), (SAFARI, "safari"), (EDGE, "edge"), (DINGTALK, "dingtalk"),
    (FEISHU, "feishu"), (CUBOT_PHONE, "chrome"), ("Mozilla/5.0 (X11; Linux) Gecko/20100101 Firefox/133.0", "firefox"),
    ("SomethingNew/1.0", "other"),
])
def test_people_use_browsers_and_apps(agent: str, family: str) -> None:
    assert classify_agent(agent) == (family, False)


@pytest.mark.parametrize(("agent", "family"), [
    ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", "proofpoint"),
    ("Mimecast-URL-Protect/2.0", "mimecast"),
    ("Barracuda Sentinel (EE)", "barracuda"),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 BingPreview/1.0b", "microsoft-scanner"),
    ("Microsoft Office Existence Discovery", "microsoft-scanner"),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "slack-preview"),
    ("facebookexternalhit/1.1", "facebook-preview"),
    ("WhatsApp/2.23.20.0", "whatsapp-preview"),
    ("TelegramBot (like TwitterBot)", "telegram-preview"),
    ("Mozilla/5.0 (compatible; bingbot/2.0)", "bot"),
    ("curl/8.5.0", "http-library"),
    ("python-requests/2.32.3", "http-library"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36", "headless-browser"),
    ("", "none"),
    (None, "none"),
])
def test_scanners_previews_and_tools_are_machines(agent: str | None, family: str) -> None:
    assert classify_agent(agent) == (family, True)


def test_reasons() -> None:
    now = utcnow()
    delivered = now - timedelta(seconds=3)
    assert machine_reason("HEAD", {}, CHROME, None, now) == "head_request"
    assert machine_reason("GET", {"sec-purpose": "prefetch;prerender"}, CHROME, None, now) == "prefetch"
    assert machine_reason("GET", {"x-purpose": "preview"}, CHROME, None, now) == "prefetch"
    assert machine_reason("GET", {}, "Mimecast-URL-Protect", None, now) == "scanner_ua"
    assert machine_reason("GET", {}, CHROME, delivered, now) == "scanner_burst"
    assert machine_reason("GET", {}, CHROME, now - SCANNER_WINDOW - timedelta(seconds=1), now) is None
    assert machine_reason("GET", {}, CHROME, None, now) is None
    assert machine_reason("POST", {}, WECHAT, None, now) is None


def test_ip_prefixes_are_hashed_with_the_key() -> None:
    same_net = ip_prefix_hash("203.0.113.7"), ip_prefix_hash("203.0.113.200")
    assert same_net[0] == same_net[1] and same_net[0] is not None
    assert "203.0.113" not in same_net[0] and len(same_net[0]) == 32
    assert ip_prefix_hash("203.0.114.7") != same_net[0]
    assert ip_prefix_hash("2001:db8:1:2::1") == ip_prefix_hash("2001:db8:1:ffff::9")
    assert ip_prefix_hash("not an ip") is None and ip_prefix_hash(None) is None


def test_the_ip_hash_depends_on_the_deployment_key(monkeypatch: pytest.MonkeyPatch) -> None:
    default = ip_prefix_hash("198.51.100.1")
    monkeypatch.setenv("LIFELINE_HASH_KEY", "another-deployment")
    assert ip_prefix_hash("198.51.100.1") != default
