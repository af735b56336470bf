"""Words of HR tasks, candidate messages and the reschedule pages, in zh-CN and en.

A field marked `!u` (`{name!u}`) takes a value from outside Lifeline (candidate, ATS, vendor): fill
these templates with `lifeline_hub.core.markup.fill`, which defangs it. Texts hold no URLs: links travel beside them.
"""

from __future__ import annotations

from datetime import datetime

from lifeline_hub.core.models import zone_info

LOCALES = ("zh-CN", "en")
BEIJING = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "PRC"})
_ZH_WEEKDAYS = "一二三四五六日"


def locale_of(*preferences: str | None) -> str:
    """The first supported locale among `preferences` (`zh`, `zh-Hans`, `en-GB`... match); else zh-CN."""
    for tag in preferences:
        lowered = (tag or "").strip().lower()
        if lowered.startswith("zh"):
            return "zh-CN"
        if lowered.startswith("en"):
            return "en"
    return "zh-CN"


def when(value: datetime, zone: str, locale: str, *, date: bool = True) -> str:
    """`2026年3月2日（周一）14:00` / `Mon 2 Mar 2026, 14:00`, in `zone`."""
    local = value.astimezone(zone_info(zone))
    if not date:
        return local.strftime("%H:%M")
    if locale == "zh-CN":
        return f"{local.year}年{local.month}月{local.day}日（周{_ZH_WEEKDAYS[local.weekday()]}）{local:%H:%M}"
    return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"


def short(value: datetime, zone: str) -> str:
    """`03-02 14:00`: for evidence lines."""
    return value.astimezone(zone_info(zone)).strftime("%m-%d %H:%M")


def zone_name(zone: str, locale: str) -> str:
    """How a time zone is named to a reader: 北京时间 for Beijing in Chinese, else its IANA name."""
    if locale == "zh-CN":
        return "北京时间" if zone in BEIJING else f"{zone} 时间"
    return zone


def window(start: datetime, end: datetime, zone: str, locale: str) -> str:
    """`start–end` with the zone named: `…14:00–14:45（北京时间）` / `…, 14:00–14:45 (Europe/Berlin)`."""
    same_day = start.astimezone(zone_info(zone)).date() == end.astimezone(zone_info(zone)).date()
    span = f"{when(start, zone, locale)}–{when(end, zone, locale, date=not same_day)}"
    return f"{span}（{zone_name(zone, locale)}）" if locale == "zh-CN" else f"{span} ({zone})"


T: dict[str, dict[str, str]] = {
    "zh-CN": {
        # vocabulary
        "kind.ai_async": "AI 面试", "kind.video": "视频面试", "kind.phone": "电话面试", "kind.onsite": "现场面试",
        "purpose.invite": "面试邀请", "purpose.reminder_t3d": "提醒（提前3天）",
        "purpose.reminder_t1d": "提醒（提前1天）", "purpose.reminder_t1h": "提醒（提前1小时）",
        "purpose.confirm_request": "确认请求", "purpose.urgent": "紧急提醒",
        "purpose.reschedule_offer": "改期邀请", "purpose.reissued_link": "新链接", "purpose.cancellation": "取消通知",
        "purpose.hr_task": "HR 任务",
        "state.sent": "已发送，无回执", "state.failed": "发送失败", "state.delivered": "已送达，未读",
        "state.read": "已读", "state.sent_unobservable": "已发送（该渠道没有送达回执）",
        "state.delivered_read_unknown": "已送达（该渠道没有已读回执）",
        "confirm.confirm": "确认参加", "confirm.decline": "婉拒", "confirm.reschedule": "申请改期",
        "outcome.missed_technical": "候选人尝试进入但因技术问题未能参加",
        "outcome.missed_technical.interviewer_reported": "面试官报告面试因技术问题未能进行",
        "outcome.missed_declined": "候选人已婉拒或申请改期，但面试未被取消",
        "outcome.missed_declined.declined": "候选人已婉拒，但面试未被取消",
        "outcome.missed_declined.reschedule_requested": "候选人申请了改期，但面试既未改期也未取消",
        "outcome.missed_read_no_show": "候选人已读通知，但未到场",
        "outcome.missed_read_no_show.confirmed_no_show": "候选人确认会参加，但未到场",
        "outcome.missed_read_no_show.link_opened": "候选人打开过面试链接，但未到场",
        "outcome.missed_not_reached": "通知未能触达候选人",
        "outcome.missed_not_reached.delivered_unread": "通知已送达，但候选人未读",
        "outcome.missed_not_reached.delivered_read_unknown": "通知已送达，但没有迹象表明候选人看过"
                                                            "（所用渠道没有已读回执）",
        "outcome.missed_not_reached.undelivered": "通知均未能送达候选人",
        "outcome.missed_not_reached.nothing_sent": "没有给候选人发过通知",
        "outcome.attended_partial": "候选人参加时长不足",
        "outcome.attended_partial.not_submitted": "候选人开始了 AI 面试，但没有提交",
        "outcome.unknown": "没有该面试的到场数据",
        # evidence
        "ev.title": "证据：", "ev.none": "没有发给候选人的通知记录。",
        "ev.sent": "{at} {channel} {purpose} → {state}",
        "ev.clicks": "链接：打开 {opens} 次，尝试进入 {attempts} 次{machine}",
        "ev.machine": "（另有 {n} 次疑似邮件扫描，不计入）",
        "ev.errors": "进入失败 {n} 次（错误码 {codes!u}）",
        "ev.joined": "已进入面试，共 {minutes} 分钟", "ev.not_joined": "未进入面试",
        "ev.confirm": "{at} 候选人{action}",
        "ev.report": "{at} 面试官 {who!u} 回答：{verdict}",
        "ev.report_other": "{at} {who!u} 回答：{verdict}（不是该面试的面试官，不计入）",
        # HR tasks and messages
        "hr.who": "候选人：{name!u}{phone}", "hr.phone": "（手机 {phone}）",
        "hr.interview": "面试：{kind}，{when}{platform}", "hr.platform": "，平台 {platform!u}",
        "hr.what": "情况：{what}", "hr.why": "{what} ({why!u})", "hr.next": "下一步：{step}",
        "hr.advice": "此判断仅供参考，不会自动拒绝候选人。",
        "hr_fyi.title": "【已处理】{name!u} 的面试因技术问题未能进入",
        "hr_fyi.step": "已自动向候选人发送新的面试链接，无需操作。若候选人仍无法进入，请提供备用方式（如电话）。",
        "hr_fyi_offer.title": "【已处理】{name!u} 的面试因技术问题未能进行",
        "hr_fyi.title.interviewer_reported": "【已处理】面试官报告 {name!u} 的面试出现技术问题",
        "hr_fyi_offer.step": "已自动邀请候选人另选时间（技术问题不计入候选人的责任），无需操作。"
                             "如需尽快安排，请直接联系候选人。",
        "hr_decision.title": "【待决定】{name!u} 未参加面试",
        "hr_decision.title.no_attendance_source": "【待决定】{name!u} 的面试没有到场数据",
        "hr_decision.title.short_attendance": "【待决定】{name!u} 的面试参加时长不足",
        "hr_decision.title.not_submitted": "【待决定】{name!u} 没有提交 AI 面试",
        "hr_decision.step": "请决定是否为候选人改期：可邀请候选人自选时间，或确认候选人实际已参加。",
        "contact_fix.title": "【待处理】没有迹象表明 {name!u} 看到了面试通知，请核实联系方式",
        "contact_fix.step": "请核实候选人的联系方式{phone}，在招聘系统中更正后，邀请候选人改约。",
        "contact_fix.title.delivered_read_unknown": "【待处理】{name!u} 的面试通知已送达，但没有已读迹象",
        "contact_fix.step.delivered_read_unknown": "通知已送达（短信等渠道没有已读回执），联系方式不必核实。"
                                                   "请直接致电候选人{phone}，或改用能显示已读的渠道联系，再邀请候选人改约。",
        "contact_fix.title.delivered_unread": "【待处理】{name!u} 未读面试通知",
        "contact_fix.step.delivered_unread": "通知已送达但候选人未读，联系方式有效。请直接致电候选人{phone}，"
                                             "确认其是否仍有意向，再邀请候选人改约。",
        "contact_fix.title.nothing_sent": "【待处理】没有给 {name!u} 发过面试通知",
        "contact_fix.step.nothing_sent": "系统没有发给候选人的通知记录。请确认招聘系统中有候选人的联系方式{phone}，"
                                         "再邀请候选人改约。",
        "partial.title": "【待决定】{name!u} 的面试参加时长不足",
        "partial.step": "请与面试官确认是否需要继续面试；如需继续，请重新发送链接。",
        "update_ats.title": "【待处理】{name!u} 婉拒或申请改期",
        "update_ats.step": "已向候选人发送改期链接。请在招聘系统中更新该面试的状态。",
        "second_miss.title": "【需人工决定】{name!u} 在同一职位第 {count} 次未参加面试",
        "second_miss.step": "系统不再自动联系候选人。请人工决定是否再次安排，或结束该流程（不会自动拒绝）。",
        "ask.title": "请确认：{name!u} 是否参加了面试？",
        "ask.step": "系统没有该面试的到场数据。如候选人已参加，请点击“确认已参加”。",
        "unanswered.title": "【待确认】没有人回答 {name!u} 是否参加了面试",
        "unanswered.step": "系统没有该面试的到场数据，一天内也没有面试官回答。请向面试官确认：如候选人已参加，"
                           "请点击“确认已参加”；如候选人没有来，可邀请候选人改约。",
        "reschedule_task.title": "【待处理】{name!u} 申请改期",
        "rescheduled.title": "【已改期】{name!u} 的面试改至 {when}",
        "rescheduled.step": "请在招聘系统中更新面试时间。新的日历邀请和链接已发给候选人。",
        "incident.title": "【故障】{platform!u} 平台上 {count} 场面试因技术问题未能进入",
        "incident.body": "{window} 分钟内，{platform!u} 平台上有 {count} 场面试的候选人尝试进入但失败（首场 {first}）。"
                         "这很可能是平台故障，而不是候选人的问题。请检查平台状态；受影响的候选人已收到新链接。",
        "q.title": "请确认：{name!u} 是否参加了面试？", "q.who": "候选人：{name!u}",
        "q.body": "系统没有这场面试的到场记录，请点选一项：已参加 / 迟到参加 / 未到场 / 技术问题。",
        "answer.attended": "已参加", "answer.attended_late": "迟到参加", "answer.no_show": "未到场",
        "answer.technical": "技术问题",
        "link.attended": "确认已参加", "link.reissue": "重新发送链接", "link.offer": "邀请候选人改约",
        "link.join": "进入面试", "link.pick": "选择新的时间",
        "link.approval": "查看审批",
        # candidate messages
        "c.hello": "{name!u}，您好：",
        "c.reissued_link.title": "您的面试新链接",
        "c.reissued_link.body": "我们注意到您进入面试时遇到了问题。请使用下面的新链接进入面试（旧链接已失效）。\n"
                                "面试时间：{when}",
        "c.technical.title": "关于您的面试",
        "c.technical.body": "很抱歉，您原定 {when} 的面试因技术问题未能进行，这不会影响对您的评价。"
                            "请通过下面的链接选择新的时间。",
        "c.resend.title": "关于您的面试",
        "c.resend.body": "我们之前发给您的面试通知可能没有送达，原定 {when} 的面试未能进行。"
                         "如您仍有意向，请通过下面的链接选择新的时间。",
        "c.reschedule_offer.title": "重新安排您的面试",
        "c.reschedule_offer.body": "您原定 {when} 的面试未能进行。如您仍有意向，请通过下面的链接选择新的时间。",
        "c.rescheduled.title": "您的面试已改期",
        "c.rescheduled.body": "您的面试已改至 {when}，请使用下面的新面试链接。\n日历邀请已附上。",
        "c.refused.title": "关于您的改期申请",
        "c.refused.keep": "很抱歉，您申请的时间未能安排。您的面试仍为原定时间 {when}，链接不变。",
        "c.refused.contact": "很抱歉，您申请的时间未能安排。招聘人员会尽快与您联系后续安排。",
        "c.reschedule_more": "如需更改时间，请使用下面的“选择新的时间”链接。",
        "c.sign": "祝好！",
        # approval form
        "ap.title": "面试改期申请：{name!u}", "ap.who": "{name!u}{phone}", "ap.candidate": "候选人",
        "ap.interview": "原定面试",
        "ap.reason": "原因", "ap.slots": "候选人希望的时间（依次为首选、次选）", "ap.evidence": "证据",
        "ap.note": "同意即按首选时间改期；如不合适请拒绝，并另行联系候选人。", "ap.key": "Lifeline 编号",
        "ap.because": "{reason!u}", "ap.because_note": "{reason!u}: {note!u}",
        "reason.schedule_conflict": "时间冲突", "reason.technical_issue": "技术问题", "reason.personal": "个人原因",
        "reason.other": "其他",
    },
    "en": {
        "kind.ai_async": "AI interview", "kind.video": "video interview", "kind.phone": "phone interview",
        "kind.onsite": "on-site interview",
        "purpose.invite": "invitation", "purpose.reminder_t3d": "reminder (3 days before)",
        "purpose.reminder_t1d": "reminder (1 day before)", "purpose.reminder_t1h": "reminder (1 hour before)",
        "purpose.confirm_request": "confirmation request", "purpose.urgent": "urgent reminder",
        "purpose.reschedule_offer": "reschedule offer", "purpose.reissued_link": "new link",
        "purpose.cancellation": "cancellation", "purpose.hr_task": "HR task",
        "state.sent": "sent, no receipt", "state.failed": "failed", "state.delivered": "delivered, not read",
        "state.read": "read", "state.sent_unobservable": "sent (this channel reports no delivery)",
        "state.delivered_read_unknown": "delivered (this channel reports no reads)",
        "confirm.confirm": "confirmed", "confirm.decline": "declined", "confirm.reschedule": "asked to reschedule",
        "outcome.missed_technical": "the candidate tried to join but could not (technical problem)",
        "outcome.missed_technical.interviewer_reported": "the interviewer reported that a technical problem kept the "
                                                         "interview from taking place",
        "outcome.missed_declined": "the candidate declined or asked to reschedule, but nobody cancelled",
        "outcome.missed_declined.declined": "the candidate declined, but nobody cancelled the interview",
        "outcome.missed_declined.reschedule_requested": "the candidate asked to reschedule, but the interview was "
                                                        "neither moved nor cancelled",
        "outcome.missed_read_no_show": "the candidate read the messages but did not show up",
        "outcome.missed_read_no_show.confirmed_no_show": "the candidate confirmed but did not show up",
        "outcome.missed_read_no_show.link_opened": "the candidate opened the interview link but did not show up",
        "outcome.missed_not_reached": "our messages did not reach the candidate",
        "outcome.missed_not_reached.delivered_unread": "our messages were delivered, the candidate did not read them",
        "outcome.missed_not_reached.delivered_read_unknown": "our messages were delivered, with no sign that they were "
                                                            "read (their channels report no reads)",
        "outcome.missed_not_reached.undelivered": "none of our messages reached the candidate",
        "outcome.missed_not_reached.nothing_sent": "no message was sent to the candidate",
        "outcome.attended_partial": "the candidate attended for less than the minimum time",
        "outcome.attended_partial.not_submitted": "the candidate started the AI interview but did not submit it",
        "outcome.unknown": "there is no attendance data for this interview",
        "ev.title": "Evidence:", "ev.none": "No message to the candidate on record.",
        "ev.sent": "{at} {channel} {purpose} → {state}",
        "ev.clicks": "Link: opened {opens}x, join attempts {attempts}x{machine}",
        "ev.machine": " ({n} more by mail scanners, not counted)",
        "ev.errors": "Join errors {n}x (codes {codes!u})",
        "ev.joined": "Joined for {minutes} min in total", "ev.not_joined": "Never joined",
        "ev.confirm": "{at} the candidate {action}",
        "ev.report": "{at} interviewer {who!u} answered: {verdict}",
        "ev.report_other": "{at} {who!u} answered: {verdict} (not an interviewer of this interview, not counted)",
        "hr.who": "Candidate: {name!u}{phone}", "hr.phone": " (phone {phone})",
        "hr.interview": "Interview: {kind}, {when}{platform}", "hr.platform": ", platform {platform!u}",
        "hr.what": "What happened: {what}", "hr.why": "{what} ({why!u})", "hr.next": "Next step: {step}",
        "hr.advice": "This is advice only; no candidate is rejected automatically.",
        "hr_fyi.title": "[Handled] {name!u} could not join the interview (technical)",
        "hr_fyi.step": "A new interview link went to the candidate automatically; nothing to do. If they still "
                       "cannot join, offer another way in (e.g. a phone call).",
        "hr_fyi_offer.title": "[Handled] {name!u}'s interview did not take place (technical)",
        "hr_fyi.title.interviewer_reported": "[Handled] The interviewer reported a technical problem in {name!u}'s "
                                             "interview",
        "hr_fyi_offer.step": "The candidate was invited to pick a new time automatically (a technical problem does "
                             "not count against them); nothing to do. To move faster, contact the candidate.",
        "hr_decision.title": "[Decide] {name!u} missed the interview",
        "hr_decision.title.no_attendance_source": "[Decide] No attendance data for {name!u}'s interview",
        "hr_decision.title.short_attendance": "[Decide] {name!u} attended too briefly",
        "hr_decision.title.not_submitted": "[Decide] {name!u} did not submit the AI interview",
        "hr_decision.step": "Decide whether to reschedule: invite the candidate to pick a new time, or confirm "
                            "that they did attend.",
        "contact_fix.title": "[To do] No sign that {name!u} saw our messages: check the contact details",
        "contact_fix.step": "Check the candidate's contact details{phone}, correct them in the ATS, then invite the "
                            "candidate to pick a new time.",
        "contact_fix.title.delivered_read_unknown": "[To do] {name!u}: messages delivered, no sign they were read",
        "contact_fix.step.delivered_read_unknown": "The messages were delivered (SMS and the like report no reads): "
                                                   "the contact details need no check. Call the candidate{phone} or "
                                                   "try a channel that shows reads, then invite them to pick a new "
                                                   "time.",
        "contact_fix.title.delivered_unread": "[To do] {name!u} did not read our messages",
        "contact_fix.step.delivered_unread": "The messages were delivered but not read; the contact works. Call the "
                                             "candidate{phone} to ask whether they are still interested, then invite "
                                             "them to pick a new time.",
        "contact_fix.title.nothing_sent": "[To do] No message went to {name!u}",
        "contact_fix.step.nothing_sent": "Lifeline has no message to the candidate on record. Make sure the ATS has "
                                         "their contact details{phone}, then invite them to pick a new time.",
        "partial.title": "[Decide] {name!u} attended too briefly",
        "partial.step": "Ask the interviewer whether to continue; if so, send the link again.",
        "update_ats.title": "[To do] {name!u} declined or asked to reschedule",
        "update_ats.step": "The candidate got a link to pick a new time. Update the interview's status in the ATS.",
        "second_miss.title": "[Your decision] {name!u} missed an interview for this job {count} times",
        "second_miss.step": "Lifeline no longer contacts the candidate by itself. Decide whether to schedule again "
                            "or to close the process (nothing is rejected automatically).",
        "ask.title": "Please confirm: did {name!u} attend the interview?",
        "ask.step": "There is no attendance data for this interview. If the candidate attended, press "
                    "\"Confirm attended\".",
        "unanswered.title": "[To check] Nobody has said whether {name!u} attended the interview",
        "unanswered.step": "There is no attendance data for this interview, and no interviewer answered within a "
                           "day. Ask the interviewers: if the candidate attended, press \"Confirm attended\"; if "
                           "not, you can invite them to pick a new time.",
        "reschedule_task.title": "[To do] {name!u} asks to reschedule",
        "rescheduled.title": "[Rescheduled] {name!u}'s interview moved to {when}",
        "rescheduled.step": "Update the interview time in the ATS. The candidate has the new calendar invitation "
                            "and link.",
        "incident.title": "[Incident] {count} interviews on {platform!u} failed to start (technical)",
        "incident.body": "Within {window} minutes, candidates of {count} interviews on {platform!u} tried to join and "
                         "failed (first at {first}). This looks like a platform fault, not the candidates. Check the "
                         "platform; the candidates affected already got new links.",
        "q.title": "Did {name!u} attend the interview?", "q.who": "Candidate: {name!u}",
        "q.body": "Lifeline has no attendance record for this interview. Please pick one: Attended / Joined late / "
                  "Did not come / Technical problem.",
        "answer.attended": "Attended", "answer.attended_late": "Joined late", "answer.no_show": "Did not come",
        "answer.technical": "Technical problem",
        "link.attended": "Confirm attended", "link.reissue": "Send the link again",
        "link.offer": "Invite to reschedule", "link.approval": "Open the approval",
        "link.join": "Join the interview", "link.pick": "Pick a new time",
        "c.hello": "Dear {name!u},",
        "c.reissued_link.title": "A new link for your interview",
        "c.reissued_link.body": "We saw that joining your interview did not work. Please use the new link below (the "
                                "old one no longer works).\nTime: {when}",
        "c.technical.title": "About your interview",
        "c.technical.body": "We are sorry: a technical problem kept your interview planned for {when} from taking "
                            "place. This does not count against you. Please pick a new time with the link below.",
        "c.resend.title": "About your interview",
        "c.resend.body": "Our earlier messages may not have reached you, and the interview planned for {when} did not "
                         "take place. If you are still interested, please pick a new time with the link below.",
        "c.reschedule_offer.title": "Let's find a new time for your interview",
        "c.reschedule_offer.body": "Your interview planned for {when} did not take place. If you are still "
                                   "interested, please pick a new time with the link below.",
        "c.rescheduled.title": "Your interview has a new time",
        "c.rescheduled.body": "Your interview now takes place {when}; please use the new link below.\nThe calendar "
                              "invitation is attached.",
        "c.refused.title": "About your request to reschedule",
        "c.refused.keep": "We are sorry, the time you asked for could not be arranged. Your interview stays at {when}, "
                          "with the same link.",
        "c.refused.contact": "We are sorry, the time you asked for could not be arranged. The recruiter will contact "
                             "you about the next steps soon.",
        "c.reschedule_more": "To ask for another time, use the \"Pick a new time\" link below.",
        "c.sign": "Kind regards",
        "ap.title": "Interview reschedule request: {name!u}", "ap.who": "{name!u}{phone}", "ap.candidate": "Candidate",
        "ap.interview": "Planned interview", "ap.reason": "Reason",
        "ap.slots": "Times the candidate asks for (first choice first)", "ap.evidence": "Evidence",
        "ap.note": "Approving moves the interview to the first choice; if it does not suit, refuse and contact the "
                   "candidate.", "ap.key": "Lifeline reference",
        "ap.because": "{reason!u}", "ap.because_note": "{reason!u}: {note!u}",
        "reason.schedule_conflict": "schedule conflict", "reason.technical_issue": "technical problem",
        "reason.personal": "personal reasons", "reason.other": "other",
    },
}
REASONS = ("schedule_conflict", "technical_issue", "personal", "other")

P: dict[str, dict[str, str]] = {
    "zh-CN": {
        "switch": "English", "switch_to": "en",
        "form.title": "重新安排面试时间",
        "form.intro": "请告诉我们原因，并选择您方便的时间。招聘方确认后，我们会把新的时间和面试链接发给您。",
        "form.current": "原定时间：{kind}，{when}", "form.reason": "原因",
        "form.note": "补充说明（可选，不要填写手机号等个人信息）",
        "form.slots": "可选时间（可多选；最早的一个为首选）", "form.propose": "或者提出您方便的时间",
        "form.zone": "以上时间均为{zone}。", "form.submit": "提交申请", "form.choice": "时间 {n}",
        "form.need_time": "请至少选择或填写一个时间。", "form.bad_time": "填写的时间需在 2 小时之后、60 天之内。",
        "thanks.title": "已收到您的申请", "thanks.body": "招聘方确认后，我们会把结果和新的面试链接发给您。",
        "already.title": "您已提交过申请", "already.body": "我们正在处理您的申请，结果会通过消息告知您。",
        "rotated.title": "此链接已失效", "rotated.body": "该面试已有变动，请使用我们最近一次发给您的消息中的链接。",
        "expired.title": "此链接已过期", "expired.body": "如仍需更改面试时间，请直接回复邀请消息联系招聘方。",
        "cancelled.title": "此面试已取消", "cancelled.body": "该面试已被取消。如有疑问，请回复邀请消息联系招聘方。",
        "not_found.title": "链接无效", "not_found.body": "未找到该链接，请检查链接是否完整。",
        "unavailable.title": "暂时无法提交", "unavailable.body": "请直接回复邀请消息联系招聘方，抱歉给您带来不便。",
        "hr.attended": "确认候选人已参加了这场面试？", "hr.reissue": "给候选人重新发送面试链接？",
        "hr.offer": "邀请候选人自选新的面试时间？", "hr.confirm": "确认",
        "hr.done.attended": "已记录：候选人已参加。", "hr.done.reissue": "新的面试链接已安排发送给候选人。",
        "hr.done.offer": "改期邀请已安排发送给候选人。", "hr.already": "此操作之前已完成，无需重复。",
        "hr.stale": "该面试已有变动（或已不存在），此链接不再适用。",
        "hr.unroutable": "无法自动联系候选人（未配置候选人渠道），请直接联系候选人。",
        "hr.invalid": "链接无效。", "hr.title": "Lifeline",
        "ask.title": "面试到场确认", "ask.confirm": "您的回答：{verdict}。确认提交？",
        "ask.recorded": "已记录您的回答：{verdict}。谢谢！", "ask.changed": "已改为：{verdict}（取代您之前的回答）。",
        "ask.already": "您之前已给出同样的回答（{verdict}），无需重复。",
        "ask.not_counted": "已记录（{verdict}），但您不是这场面试的面试官，此回答不计入判断，HR 会看到它。",
        "ask.stale": "该面试已不存在，此链接不再适用。",
    },
    "en": {
        "switch": "中文", "switch_to": "zh-CN",
        "form.title": "Find a new time for your interview",
        "form.intro": "Tell us why, and pick times that suit you. Once the recruiter confirms, we send you the new "
                      "time and the interview link.",
        "form.current": "Planned time: {kind}, {when}", "form.reason": "Reason", "form.choice": "Time {n}",
        "form.note": "Anything to add (optional; please no phone numbers or other personal details)",
        "form.slots": "Available times (pick any; the earliest one you pick is your first choice)",
        "form.propose": "Or suggest times that suit you", "form.zone": "All times are in {zone}.",
        "form.submit": "Send my request",
        "form.need_time": "Please pick or suggest at least one time.",
        "form.bad_time": "Suggested times must be at least 2 hours and at most 60 days ahead.",
        "thanks.title": "Thank you, we have your request",
        "thanks.body": "Once the recruiter confirms, we send you the outcome and the new interview link.",
        "already.title": "Your request is already with us",
        "already.body": "We are working on it and will let you know by message.",
        "rotated.title": "This link has been replaced",
        "rotated.body": "The interview has changed; please use the link in our most recent message.",
        "expired.title": "This link has expired",
        "expired.body": "To ask for another time, reply to the invitation message.",
        "cancelled.title": "This interview was cancelled",
        "cancelled.body": "The interview has been cancelled. If you have questions, reply to the invitation message.",
        "not_found.title": "This link is not valid",
        "not_found.body": "We could not find this link; please check that it is complete.",
        "unavailable.title": "We cannot take requests right now",
        "unavailable.body": "Please reply to the invitation message to reach the recruiter. Sorry for the trouble.",
        "hr.attended": "Confirm that the candidate took part in this interview?",
        "hr.reissue": "Send the candidate a new interview link?",
        "hr.offer": "Invite the candidate to pick a new interview time?", "hr.confirm": "Confirm",
        "hr.done.attended": "Recorded: the candidate attended.",
        "hr.done.reissue": "A new interview link is on its way to the candidate.",
        "hr.done.offer": "The invitation to pick a new time is on its way to the candidate.",
        "hr.already": "This was done before; nothing more to do.",
        "hr.stale": "The interview has changed (or is gone); this link no longer applies.",
        "hr.unroutable": "The candidate cannot be reached automatically (no candidate channel configured); "
                         "please contact them directly.",
        "hr.invalid": "This link is not valid.", "hr.title": "Lifeline",
        "ask.title": "Interview attendance", "ask.confirm": "Your answer: {verdict}. Send it?",
        "ask.recorded": "Recorded your answer: {verdict}. Thank you!",
        "ask.changed": "Changed to: {verdict} (it replaces your earlier answer).",
        "ask.already": "You gave the same answer before ({verdict}); nothing more to do.",
        "ask.not_counted": "Recorded ({verdict}), but you are not an interviewer of this interview: the answer does "
                           "not count towards the decision; HR will see it.",
        "ask.stale": "The interview is gone; this link no longer applies.",
    },
}
"""Words of the pages behind the reschedule and HR links."""
