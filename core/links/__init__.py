"""Lifeline's own join links: tokens, machine-click detection, LinkEvents and the candidate's pages.

    from lifeline_hub.core.links import join_link
    url = join_link(store, interview_id)                 # a reminder: the current link
    url = join_link(store, interview_id, reissue=True)   # remediation: a fresh link, old ones rotated

`lifeline serve` (core.receiver) answers the links at `/j/{token}`.
"""

from lifeline_hub.core.links.events import Visit, ip_prefix_hash, links_source, record_visit
from lifeline_hub.core.links.scanners import classify_agent, machine_reason
from lifeline_hub.core.links.tokens import (
    DEFAULT_PUBLIC_URL,
    PUBLIC_URL_ENV,
    LinkPurpose,
    LinkStatus,
    LinkToken,
    ResolvedLink,
    issue_token,
    join_link,
    public_base_url,
    resolve,
)

__all__ = [
    "DEFAULT_PUBLIC_URL", "PUBLIC_URL_ENV", "LinkPurpose", "LinkStatus", "LinkToken", "ResolvedLink", "Visit",
    "classify_agent", "ip_prefix_hash", "issue_token", "join_link", "links_source", "machine_reason",
    "public_base_url", "record_visit", "resolve",
]
