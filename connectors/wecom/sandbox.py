"""WeCom and the WeChat Official Account in the sandbox: staff in WeCom, candidates on WeChat.

`WeComActor` plays the corp's WeCom users: HR works Lifeline's task cards (follows a next-step link, then taps a
button: the emulator pushes the encrypted `template_card_event` to Lifeline's receiver), staff read app messages
(nothing Lifeline can see unless they click its links), and the recruiter confirms staged customer-contact sends
in the client - within the hour in office hours mostly, sometimes late, sometimes never (then the reminder falls
back to SMS). Candidates who are WeChat contacts add the recruiter with a contact-me code naming them (`State`:
Lifeline's candidate id), read what reaches them and open its links; some delete the recruiter before their
interview (`del_follow_user`). `WeChatActor` plays the account's followers: they follow with a code naming them,
read template messages, and some turned the account's template messages off (`failed:user block`).

Both deliver their emulator's pushes on the sandbox's thread (`tick`), so a run stays a function of its seed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from lifeline_hub.connectors.wecom.emulator_state import WeComWorld
from lifeline_hub.connectors.wecom.oa_state import OaWorld
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.sandbox import Booking, Role, Sandbox, SandboxActor, Tally, repeats

RECRUITER = "recruiter01"
"""The member whose WeChat contacts candidates are, when the instance names no `contact_sender`."""
ON_TIME, LATE = 0.7, 0.15
"""How the recruiter treats a staged send: confirms within 25 minutes (in office hours), hours later, or never."""
TASK_CARD = "button_interaction"
DONE = "done"


def _text(content: Any) -> str:
    """What a person sees of a message or card: its text and every link's URL (JSON values, flattened)."""
    if isinstance(content, dict):
        return "\n".join(_text(v) for v in content.values())
    if isinstance(content, list):
        return "\n".join(_text(v) for v in content)
    return str(content)


def _links(card: dict[str, Any]) -> list[str]:
    """The URLs a task card opens: the card itself, then its jump list."""
    return [str(a["url"]) for a in [card.get("card_action") or {}, *(card.get("jump_list") or [])] if a.get("url")]


def _callback(people: Sandbox, plugin: str) -> str:
    return f"{people.receiver}/callbacks/{people.setup_of(plugin).instance.name}"


class WeComActor(SandboxActor[WeComWorld]):
    """The corp's members (HR, the recruiter) and the candidates who added the recruiter from WeChat."""

    role = Role.staff_channel

    def __init__(self, sandbox: Sandbox, world: WeComWorld) -> None:
        super().__init__(sandbox, world)
        self.sender = RECRUITER
        self.contacts: dict[str, Booking] = {}
        """external_userid -> the candidate."""

    def setup(self) -> None:
        people = self.sandbox
        people.on_wechat()
        self.sender = getattr(people.setup_of(self.plugin).settings, "contact_sender", None) or RECRUITER
        known = {u.lower() for u in self.world.settings.users}
        for user in dict.fromkeys([*people.hr.hr_recipients, *people.hr.hr_assignees, self.sender]):
            if user.lower() not in known:
                self.world.add_user(user)
        self.world.settings.deliver_in_background = False
        self.world.set_callback_url(_callback(people, self.plugin))
        for b in people.bookings:
            if b.wechat is not None and b.wechat.contact:
                people.at(b.booked_at + b.wechat.adds_after, self._add, b)

    # ------------------------------------------------------------------ candidates on WeChat

    def _add(self, b: Booking) -> None:
        """The candidate scans the recruiter's contact-me code (its state names them) and adds them."""
        people = self.sandbox
        external = f"wmSandbox{b.ref.replace('-', '')}"
        self.world.contact.add_contact(self.sender, external, state=people.candidate_id(b))
        self.contacts[external] = b
        people.did["wechat_contacts_added"] += 1
        self.world.deliver_pending_events()
        now = utcnow()
        if b.wechat is not None and b.wechat.deletes_recruiter and b.start > now:
            people.at(now + (b.start - now) * people.rng.uniform(0.2, 0.9), self._delete, external)

    def _delete(self, external: str) -> None:
        self.world.contact.delete_contact(self.sender, external)
        self.sandbox.did["wechat_contacts_deleted"] += 1
        self.world.deliver_pending_events()

    def _confirm(self, msgid: str) -> None:
        """The recruiter taps send on the staged message in the WeCom client (unless Lifeline withdrew it)."""
        staged = next((m for m in self.world.contact.inspect()["messages"] if m["msgid"] == msgid), None)
        if staged is None or staged.get("cancelled"):
            self.sandbox.did["recruiter_found_send_withdrawn"] += 1
            return
        self.world.contact.confirm(msgid, self.sender)
        self.sandbox.did["recruiter_confirmed_sends"] += 1

    # ------------------------------------------------------------------ what arrived

    def observe(self) -> None:
        people = self.sandbox
        for message in self.world.inspect_messages():
            for member in message["reached"]:
                if people.first_look(f"wecom/{message['msgid']}/{member}"):
                    self._arrived(message, member)
        staged = self.world.contact.inspect()["messages"]
        for message in staged:
            task = message["tasks"].get(self.sender)
            fresh = task is not None and task["status"] == 0 and not message.get("cancelled")
            if fresh and people.first_look(f"staged/{message['msgid']}"):
                self._plan_confirm(message["msgid"])
        texts = {m["msgid"]: _text([m["text"], m["attachments"]]) for m in staged}
        for external, msgid in self.world.contact.deliveries():
            b = self.contacts.get(external)
            if b is None or b.wechat is None or not people.first_look(f"contact/{msgid}/{external}"):
                continue
            people.did["wecom_delivered"] += 1
            if people.rng.random() < b.wechat.read:
                people.at(utcnow() + people.reading_delay(0.5), people.read, b, texts[msgid], "wecom")

    def _arrived(self, message: dict[str, Any], member: str) -> None:
        people, now = self.sandbox, utcnow()
        if message["content"].get("card_type") == TASK_CARD:
            people.did["hr_todos"] += 1
            people.at(people.office_hours(now + timedelta(hours=people.rng.uniform(0.5, 4))), self._work_card,
                      message, member)
        elif people.rng.random() < 0.9:
            people.at(now + people.reading_delay(2), self._read, message, member)

    def _read(self, message: dict[str, Any], member: str) -> None:
        """A member reads an app message: WeCom tells nobody; only a click on one of its links would."""
        self.sandbox.did["staff_wecom_reads"] += 1
        self.sandbox.take_next_step(_text(message["content"]))

    def _work_card(self, message: dict[str, Any], member: str) -> None:
        """HR follows the card's next step (its link) most of the time, then taps its first button."""
        people = self.sandbox
        people.take_next_step(_text(message["content"]))
        keys = [str(b.get("key")) for b in message["content"].get("button_list") or []]
        self.world.click(member, str(message["task_id"]), DONE if DONE in keys else keys[0])
        people.did["hr_todos_done"] += 1
        self.world.deliver_pending_events()

    def _plan_confirm(self, msgid: str) -> None:
        people, now = self.sandbox, utcnow()
        roll = people.rng.random()
        if roll < ON_TIME:
            when = people.office_hours(now + timedelta(minutes=people.rng.uniform(2, 25)))
        elif roll < ON_TIME + LATE:
            when = people.office_hours(now + timedelta(hours=people.rng.uniform(1, 5)))
        else:
            people.did["recruiter_never_confirmed"] += 1
            return
        people.at(when, self._confirm, msgid)

    def tick(self) -> None:
        self.world.deliver_pending_events()

    def tally(self, into: Tally) -> None:
        messages = self.world.inspect_messages()
        cards = [m for m in messages if m["content"].get("card_type") == TASK_CARD]
        notices = [m for m in messages if m["content"].get("card_type") != TASK_CARD and m["reached"]]
        into.hr_tasks += len(cards)
        into.staff_messages += len(notices)
        into.duplicates += repeats((m["task_id"], member) for m in cards for member in m["reached"])
        into.duplicates += repeats((member, json.dumps(m["content"], sort_keys=True))
                                   for m in notices for member in m["reached"])
        into.task_samples += [{"subject": str(m["content"].get("main_title", {}).get("title", "")),
                               "description": "\n".join([str(m["content"].get("sub_title_text", "")),
                                                          *_links(m["content"])])}
                              for m in cards if "/hr/" in _text(m["content"])][:2]
        staged = {m["msgid"]: _text([m["text"], m["attachments"]]) for m in self.world.contact.inspect()["messages"]}
        delivered = self.world.contact.deliveries()
        into.candidate_messages["wecom"] = len(delivered)
        into.duplicates += repeats((external, staged[msgid]) for external, msgid in delivered)


class WeChatActor(SandboxActor[OaWorld]):
    """The company's Official Account and the candidates who follow it."""

    role = Role.candidate_channel

    def __init__(self, sandbox: Sandbox, world: OaWorld) -> None:
        super().__init__(sandbox, world)
        self.followers: dict[str, Booking] = {}
        """openid -> the candidate."""

    def setup(self) -> None:
        people = self.sandbox
        people.on_wechat()
        for spec in (getattr(people.setup_of(self.plugin).settings, "templates", None) or {}).values():
            self.world.settings.templates.setdefault(spec.template_id, list(spec.keywords))  # the approved ones
        self.world.settings.push_background = False
        self.world.set_callback_url(_callback(people, self.plugin))
        for b in people.bookings:
            if b.wechat is not None and b.wechat.follower:
                people.at(b.booked_at + b.wechat.adds_after, self._follow, b)

    def _follow(self, b: Booking) -> None:
        """The candidate scans the account's parametric code for their application (its scene names them) and
        follows the account."""
        openid = f"oSandbox{b.ref.replace('-', '')}"
        blocked = b.wechat is not None and b.wechat.blocks_templates
        self.world.set_status(openid, "failed:user block" if blocked else "success")
        self.world.push_event({"FromUserName": openid, "Event": "subscribe",
                               "EventKey": f"qrscene_{self.sandbox.candidate_id(b)}"})
        self.followers[openid] = b
        self.sandbox.did["oa_followers"] += 1
        self.world.deliver_events()

    def observe(self) -> None:
        people = self.sandbox
        for m in self.world.message_list():
            b = self.followers.get(m["openid"])
            if b is None or b.wechat is None or not people.first_look(f"oa/{m['msgid']}"):
                continue
            if m["status"] != "success":
                people.did["oa_blocked"] += 1
                continue
            people.did["oa_delivered"] += 1
            if people.rng.random() < b.wechat.read:
                people.at(utcnow() + people.reading_delay(0.5), people.read, b, _text([m["data"], m["link"]]),
                          "wechat")

    def tick(self) -> None:
        self.world.deliver_events()

    def tally(self, into: Tally) -> None:
        sent = [m for m in self.world.message_list() if m["status"] == "success"]
        into.candidate_messages["wechat"] = len(sent)
        # Under the key the send came with (`client_msg_id`: Lifeline's outbox key), the content where there is none
        # (subscription messages): a T-3d and a T-1h reminder may read alike and are still two reminders.
        into.duplicates += repeats((m["openid"], m.get("client_msg_id") or json.dumps([m["data"], m["link"]],
                                                                                      sort_keys=True)) for m in sent)
