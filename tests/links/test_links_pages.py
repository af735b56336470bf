"""The candidate's pages: zh-CN and en, time in the candidate's zone, no JavaScript, no personal data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifeline_hub.core.links.pages import MESSAGES, Notice, choose_locale, describe_time, render_join, render_notice
from lifeline_hub.core.models import InterviewKind
from tests.receiver.receiver_helpers import JOIN_URL, interview

START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai, a Saturday


@pytest.mark.parametrize(("preferences", "expected"), [
    ((None, "en", "zh-CN"), "en"),
    (("zh", "en"), "zh-CN"),
    (("en-GB",), "en"),
    (("zh-Hans-CN",), "zh-CN"),
    ((None, "fr-FR", "en"), "en"),
    ((None, None), "zh-CN"),
])
def test_locale_choice(preferences: tuple[str | None, ...], expected: str) -> None:
    assert choose_locale(*preferences) == expected


def test_the_window_is_shown_in_the_candidates_zone() -> None:
    live = interview(start=START, minutes=45)
    assert describe_time(live, "Asia/Shanghai", "zh-CN") == (
        "时间", "2026年11月28日（周六）14:00 – 14:45（北京时间，UTC+08:00）")
    assert describe_time(live, "Europe/Berlin", "en") == (
        "When", "Saturday, 28 November 2026, 07:00 – 07:45 (Europe/Berlin, UTC+01:00)")
    late = interview(start=datetime(2026, 11, 28, 15, 30, tzinfo=UTC), minutes=60)  # crosses midnight in Shanghai
    assert describe_time(late, "Asia/Shanghai", "en")[1].startswith("Saturday, 28 November 2026, 23:30 – Sunday, 29")


def test_an_async_interview_shows_its_deadline() -> None:
    async_interview = interview(start=START, minutes=72 * 60, kind=InterviewKind.ai_async)
    label, when = describe_time(async_interview, "Asia/Shanghai", "zh-CN")
    assert label == "请在此时间前完成" and when.startswith("2026年12月1日（周二）14:00")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_interstitial_is_a_plain_form(locale: str) -> None:
    html = render_join(interview(start=START), locale, "Asia/Shanghai")
    assert f'<html lang="{locale}">' in html
    assert '<form method="post">' in html and MESSAGES[locale]["join.button"] in html
    assert "<script" not in html.lower() and JOIN_URL not in html and "张三" not in html
    assert 'name="referrer" content="no-referrer"' in html and "noindex" in html
    assert f'href="?lang={MESSAGES[locale]["switch_to"]}"' in html


def test_no_button_before_the_platform_link_exists() -> None:
    html = render_join(interview(start=START, join_url=None), "en", "Asia/Shanghai")
    assert "<form" not in html and "not ready yet" in html


@pytest.mark.parametrize("notice", list(Notice))
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_every_notice_renders_in_both_languages(notice: Notice, locale: str) -> None:
    html = render_notice(notice, locale)
    assert MESSAGES[locale][f"{notice.value}.title"] in html and "<script" not in html.lower()
    assert "<form" not in html


def test_both_languages_have_every_text() -> None:
    assert MESSAGES["zh-CN"].keys() == MESSAGES["en"].keys()
