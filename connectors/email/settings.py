"""Settings of an `email` instance (inline in its `plugins.toml` table)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_address: str = Field(description="the organizer mailbox: From, envelope sender and ORGANIZER (reads REPLYs)")
    from_name: str = "Recruiting"
    starttls: bool = Field(True, description="smtp:// and imap:// URLs: upgrade with STARTTLS (refuse a server "
                                             "without it)")
    ca_file: str | None = Field(None, description="CA bundle to trust for the server certificate")
    message_id_domain: str | None = Field(None, description="right-hand side of Message-IDs; default: from domain")
    prodid: str = "-//Lifeline//Interview Hub//EN"
    attach_ics: bool = Field(True, description="also attach invite.ics (for clients that ignore inline parts)")
    timeout_seconds: float = Field(30.0, gt=0)
    sent_folder: str = Field("Sent", min_length=1, description=(
        "with base_urls.imap: the folder where the server files what the account submitted, looked in before "
        "a row an earlier worker may have sent is sent again (Gmail '[Gmail]/Sent Mail', Exchange 'Sent Items', "
        "or a journal mailbox's folder)"))
