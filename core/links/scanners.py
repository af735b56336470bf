"""Who opened a link: user-agent families and the signs of a machine (mail scanner, link preview).

Mail security gateways (Safe Links, Proofpoint, Mimecast, Barracuda...) and chat link previews
open every link seconds after delivery; Apple Mail and browsers prefetch. Such opens are recorded
but flagged `machine_made`, with one of these reasons:

- `head_request`: a HEAD request (people's browsers send GET);
- `prefetch`: a `Sec-Purpose`/`Purpose`/`X-Purpose`/`X-Moz` prefetch or preview header;
- `scanner_ua`: a known scanner, bot, preview fetcher or HTTP library, or no user agent at all;
- `scanner_burst`: opened within `SCANNER_WINDOW` of the latest message delivered for the
  interview. This one is taken back when the same client follows up with a join (a quick human).

The same rule judges opens a vendor reports (a platform's own "opened" event, a link tap an SMS
provider reports): `reported_open_reason` from the user-agent family the vendor gives and the timing;
the store applies it when such an open is written, so the verdict and its reason are in the trail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta

SCANNER_WINDOW = timedelta(seconds=20)
"""An open this soon after a delivery looks like a scanner until the same client presses Join."""

BURST = "scanner_burst"

# (pattern, family, machine): first match wins; patterns are case-insensitive regular expressions.
_SIGNATURES: tuple[tuple[str, str, bool], ...] = (
    (r"proofpoint", "proofpoint", True),
    (r"mimecast", "mimecast", True),
    (r"barracuda", "barracuda", True),
    (r"symantec|messagelabs", "symantec", True),
    (r"fireeye|trellix", "trellix", True),
    (r"ironport|cisco", "cisco", True),
    (r"sophos", "sophos", True),
    (r"forcepoint", "forcepoint", True),
    (r"zscaler", "zscaler", True),
    (r"trend ?micro", "trendmicro", True),
    (r"bingpreview|safelinks|microsoft office|ms-office|msoffice", "microsoft-scanner", True),
    (r"googleimageproxy|google-safety|google-pagerenderer|googlebot", "google-scanner", True),
    (r"slack(bot|-imgproxy)", "slack-preview", True),
    (r"facebookexternalhit|facebot", "facebook-preview", True),
    (r"whatsapp", "whatsapp-preview", True),
    (r"telegrambot", "telegram-preview", True),
    (r"twitterbot", "twitter-preview", True),
    (r"linkedinbot", "linkedin-preview", True),
    (r"discordbot", "discord-preview", True),
    (r"skypeuripreview", "skype-preview", True),
    (r"applebot", "applebot", True),
    (r"bytespider|baiduspider|sogou|360spider|yisouspider", "cn-crawler", True),
    (r"headlesschrome|phantomjs|puppeteer|playwright|selenium", "headless-browser", True),
    (r"^curl/|wget|python-requests|python-urllib|aiohttp|httpx|go-http-client|^java/|okhttp|libwww-perl"
     r"|node-fetch|axios|scrapy", "http-library", True),
    (r"bot/|\bbot\b|spider|crawler|preview|scanner", "bot", True),
    (r"wxwork", "wecom", False),
    (r"micromessenger", "wechat", False),
    (r"dingtalk", "dingtalk", False),
    (r"lark|feishu", "feishu", False),
    (r"mqqbrowser| qq/", "qq", False),
    (r"ucbrowser", "uc", False),
    (r"edg(a|ios)?/", "edge", False),
    (r"opr/|opera", "opera", False),
    (r"samsungbrowser", "samsung", False),
    (r"firefox/|fxios/", "firefox", False),
    (r"chrome/|crios/|chromium/", "chrome", False),
    (r"version/[\d.]+.*safari/|mobile/\w+ safari|iphone|ipad", "safari", False),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), family, machine) for p, family, machine in _SIGNATURES)
_PREFETCH_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")


def classify_agent(user_agent: str | None) -> tuple[str, bool]:
    """(family, machine) of a User-Agent header; no header is a machine, an unknown one is `other`."""
    if not user_agent or not user_agent.strip():
        return "none", True
    for pattern, family, machine in _COMPILED:
        if pattern.search(user_agent):
            return family, machine
    return "other", False


_MACHINE_FAMILIES = frozenset(family for _, family, machine in _SIGNATURES if machine) | {"none"}


def reported_open_reason(ua_family: str | None, last_delivery: datetime | None, at: datetime) -> str | None:
    """Why an open a vendor reported looks machine-made (`scanner_ua`, `scanner_burst`), or None.

    `ua_family` is the vendor's word for the client (a family name or a raw User-Agent; unknown: None).
    """
    if ua_family and (ua_family.lower() in _MACHINE_FAMILIES or classify_agent(ua_family)[1]):
        return "scanner_ua"
    if last_delivery is not None and timedelta(0) <= at - last_delivery <= SCANNER_WINDOW:
        return BURST
    return None


def machine_reason(method: str, headers: Mapping[str, str], user_agent: str | None,
                   last_delivery: datetime | None, at: datetime) -> str | None:
    """Why this request looks machine-made, or None when it looks like a person.

    `headers` are lower-cased names; `last_delivery` is the latest delivery or send recorded for
    the interview (None when there is none).
    """
    if method.upper() == "HEAD":
        return "head_request"
    if any(re.search(r"prefetch|preview", headers.get(name, ""), re.IGNORECASE) for name in _PREFETCH_HEADERS):
        return "prefetch"
    if classify_agent(user_agent)[1]:
        return "scanner_ua"
    if last_delivery is not None and timedelta(0) <= at - last_delivery <= SCANNER_WINDOW:
        return BURST
    return None
