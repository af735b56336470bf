"""Link tokens: one per candidate, interview version and purpose; rotation on re-issue and reschedule."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lifeline_hub.core.links import LinkPurpose, LinkStatus, issue_token, join_link, resolve
from lifeline_hub.core.links.tokens import EXPIRY_GRACE
from lifeline_hub.core.models import InterviewStatus, canonical_id, utcnow
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import link_tokens
from tests.receiver.receiver_helpers import SOURCE, TENANT, candidate, interview, seed

IV = canonical_id(SOURCE, "iv1")


def status(store: Store, token: str, at: datetime | None = None) -> LinkStatus:
    resolved = resolve(store, token, at)
    assert resolved is not None
    return resolved.status


def rows(store: Store) -> list[dict[str, object]]:
    with store.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(link_tokens.select().order_by(link_tokens.c.created_at))]


def test_the_same_version_gets_the_same_unguessable_token(store: Store) -> None:
    seed(store)
    first = issue_token(store, IV)
    again = issue_token(store, IV)
    assert again.token == first.token
    assert len(first.token) >= 32 and first.token not in repr(first)
    assert first.tenant == TENANT and first.candidate_id == canonical_id(SOURCE, "cand1") and first.sequence == 0
    assert join_link(store, IV, base_url="https://jobs.example.com/") == f"https://jobs.example.com/j/{first.token}"


def test_each_candidate_and_purpose_has_its_own_token(store: Store) -> None:
    seed(store)
    mine, theirs = issue_token(store, IV), issue_token(store, IV, candidate_id="someone-else")
    confirm = issue_token(store, IV, purpose=LinkPurpose.confirm)
    assert len({mine.token, theirs.token, confirm.token}) == 3
    assert all(r["rotated_at"] is None for r in rows(store))


def test_reissue_rotates_the_old_token(store: Store) -> None:
    seed(store)
    old = issue_token(store, IV)
    new_url = join_link(store, IV, reissue=True, base_url="https://x.example")
    old_row, new_row = rows(store)
    assert new_url.endswith(new_row["token"]) and old_row["token"] == old.token
    assert old_row["rotated_at"] is not None and old_row["replaced_by"] == new_row["token"]
    assert status(store, old.token) is LinkStatus.rotated
    assert resolve(store, str(new_row["token"])).status is LinkStatus.live  # type: ignore[union-attr]


def test_a_reschedule_supersedes_the_link_of_the_earlier_version(store: Store) -> None:
    seed(store)
    old = issue_token(store, IV)
    store.write(TENANT, [interview(start=utcnow() + timedelta(days=2), sequence=1)])
    assert status(store, old.token) is LinkStatus.rotated
    new = issue_token(store, IV)
    assert new.token != old.token and new.sequence == 1
    assert rows(store)[0]["replaced_by"] == new.token


def test_a_new_interview_on_the_same_thread_rotates_the_earlier_one(store: Store) -> None:
    seed(store, candidate(), interview("iv1"), interview("iv2", sequence=1))
    old = issue_token(store, IV)
    new = issue_token(store, canonical_id(SOURCE, "iv2"))
    assert status(store, old.token) is LinkStatus.rotated
    assert rows(store)[0]["replaced_by"] == new.token


def test_expiry_follows_the_window_even_after_an_extension(store: Store) -> None:
    start = utcnow() - timedelta(hours=3)
    seed(store, candidate(), interview(start=start, minutes=60))
    link = issue_token(store, IV)
    end = start + timedelta(minutes=60)
    assert resolve(store, link.token, end + EXPIRY_GRACE - timedelta(seconds=1)).status is LinkStatus.live  # type: ignore[union-attr]
    assert resolve(store, link.token, end + EXPIRY_GRACE + timedelta(seconds=1)).status is LinkStatus.expired  # type: ignore[union-attr]
    store.write(TENANT, [interview(start=start, minutes=600)])  # extended, same version
    assert status(store, link.token) is LinkStatus.live


@pytest.mark.parametrize(("interview_status", "expected"), [
    (InterviewStatus.cancelled, LinkStatus.cancelled),
    (InterviewStatus.rescheduled, LinkStatus.rotated),
    (InterviewStatus.confirmed, LinkStatus.live),
])
def test_cancelled_and_moved_interviews(store: Store, interview_status: InterviewStatus,
                                        expected: LinkStatus) -> None:
    seed(store)
    link = issue_token(store, IV)
    store.write(TENANT, [interview(status=interview_status)])
    assert status(store, link.token) is expected


def test_unknown_interviews_and_tokens(store: Store) -> None:
    with pytest.raises(LookupError, match="not in the store"):
        join_link(store, "nope/iv")
    assert resolve(store, "no-such-token") is None


def test_the_public_url_comes_from_the_environment(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(store)
    monkeypatch.setenv("LIFELINE_PUBLIC_URL", "https://links.example.com/")
    assert join_link(store, IV).startswith("https://links.example.com/j/")
    monkeypatch.setenv("LIFELINE_PUBLIC_URL", "links.example.com")
    with pytest.raises(ValueError, match="LIFELINE_PUBLIC_URL"):
        join_link(store, IV)
