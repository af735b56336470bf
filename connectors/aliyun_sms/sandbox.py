"""Aliyun SMS in the sandbox: the tenant's approved templates, dead numbers, and candidates reading their texts."""

from __future__ import annotations

from lifeline_hub.connectors.aliyun_sms.emulator_state import SmsWorld, Template
from lifeline_hub.core.models import NotificationPurpose, utcnow
from lifeline_hub.core.sandbox import Role, SandboxActor, Tally, repeats

WORDING = {
    "reminder": "${name}您好，您${time}的面试，进入：https://jobs.example.com/j/${code} 确认或改期：https://jobs.example.com/c/${confirm}",
    NotificationPurpose.reschedule_offer: "${name}您好，您${time}的面试未能进行，请选择新的时间：https://jobs.example.com/r/${code}",
    NotificationPurpose.reissued_link: "${name}您好，您的面试链接已更新，请在${time}前完成：https://jobs.example.com/j/${code}",
    NotificationPurpose.cancellation: "${name}您好，您${time}的面试已取消。",
    NotificationPurpose.invite: "${name}您好，您的面试时间为${time}，进入：https://jobs.example.com/j/${code}",
}
"""The approved templates' wording, by purpose (a template's URLs are fixed, at the tenant's public address
`core.sandbox.PUBLIC_URL`; only the token is a variable)."""
WAITING, DELIVERED = 1, 3
"""SendStatus of a message (2: failed)."""


class SmsActor(SandboxActor[SmsWorld]):
    """Candidates' phones: most read their texts, some numbers are dead."""

    role = Role.candidate_channel

    def setup(self) -> None:
        for setup in self.sandbox.config.instances(self.sandbox.tenant):
            if setup.connector_class.name == "aliyun_sms":
                for purpose, code in (getattr(setup.settings, "templates", None) or {}).items():
                    self.world.settings.templates[code] = Template(content=WORDING.get(purpose, WORDING["reminder"]))
        for b in self.sandbox.bookings:
            if b.phone and not b.traits.phone_ok:
                self.world.set_outcome(b.phone, "failed", "MK:0012")  # an empty number

    def observe(self) -> None:
        people = self.sandbox
        for m in self.world.message_list():
            if m["status"] == WAITING or not people.first_look(f"sms/{m['biz_id']}"):
                continue
            b = people.candidate_by_phone(m["phone"])
            if b is None or m["status"] != DELIVERED:
                continue
            people.did["sms_delivered"] += 1
            if people.rng.random() < b.traits.sms_read:
                people.at(utcnow() + people.reading_delay(), people.read, b, m["content"], "sms")

    def tally(self, into: Tally) -> None:
        texts = self.world.message_list()
        into.candidate_messages["sms"] = len(texts)
        into.duplicates += repeats(m["out_id"] for m in texts)
        firsts = (next((m["content"] for m in texts if path in m["content"]), "") for path in ("/c/", "/r/"))
        into.message_samples += [text for text in firsts if text]  # a reminder and an offer
