"""Feishu Hire interview feedback as the interviewers' answer to "Did <candidate> attend?".

`GET /open-apis/hire/v1/interviews` lists, per interview, each interviewer's feedback record
(`interview_record_list[]`: `commit_status` 1 submitted / 2 not, `conclusion` 1 pass, 2 fail, 3 not started,
4 not submitted, 5 no-show, 6 undecided; feishu-api.md §8.1, the enum values from FeishuNetSdk, generated from
the official doc JSON). A submitted record is that interviewer's own statement: "no-show" (5) says the
candidate did not come, a pass, fail or undecided verdict (1, 2, 6) that the interview took place. Each becomes an
`AttendanceReport` by that interviewer about the interview's current version, dated when the feedback was
submitted (`feedback_submit_time`, else the last modification); the rules count it like an answer on the card,
only from the interview's own interviewers. Records not submitted, or with another conclusion, say nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.feishu.common import millis, staff_id
from lifeline_hub.core.connector import Malformed
from lifeline_hub.core.models import AttendanceReport, AttendanceVerdict, Interview, Role

if TYPE_CHECKING:
    from lifeline_hub.connectors.feishu.plugin import FeishuConnector

SUBMITTED = 1
VERDICTS = {1: AttendanceVerdict.attended, 2: AttendanceVerdict.attended, 6: AttendanceVerdict.attended,
            5: AttendanceVerdict.no_show}
"""Submitted conclusions that say whether the candidate came."""


def reports(c: FeishuConnector, raw: dict[str, Any], interview: Interview) -> Iterator[AttendanceReport | Malformed]:
    """The answers the interview's submitted feedback records give."""
    for entry in raw.get("interview_record_list") or []:
        try:
            verdict = VERDICTS.get(entry.get("conclusion")) if entry.get("commit_status") == SUBMITTED else None
            if verdict is None:
                continue
            who = staff_id(c.config.id_type, str((entry.get("interviewer") or {}).get("id") or entry["user_id"]))
            at = millis(raw.get("feedback_submit_time") or raw.get("biz_modify_time") or raw["end_time"])
            yield AttendanceReport(
                source=c.instance.name, remote_id=f"feedback:{interview.remote_id}:{entry['id']}",
                interview_id=interview.id, occurred_at=at, reported_by=Role.interviewer, reporter_id=who,
                verdict=verdict, sequence_seen=interview.thread.sequence)
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
            yield Malformed(f"interview {interview.remote_id} feedback: {type(exc).__name__}: {exc}",
                            entry if isinstance(entry, dict) else {"entry": repr(entry)})
