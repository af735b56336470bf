"""Mask the connection secrets Airflow's default list misses, in task logs and the supervisor.

Airflow masks the password and extras whose key contains `secret`, `token`, `password`... but not
`app_key`, `appKey`, `callback_aes_key` (DingTalk's EncodingAESKey) or `encrypt_key` (Feishu).
`mask_credentials` registers those values with Airflow's masker; `SENSITIVE_WORDS` is also what
`make airflow` puts in `[core] sensitive_var_conn_names` so the API and UI hide them too.
"""

from __future__ import annotations

import re

from lifeline_hub.core.connections import Credentials

SENSITIVE_WORDS = ("app_key", "appkey", "aes_key", "aeskey", "encrypt_key", "encryptkey")
LOGIN_IS_SECRET = frozenset({"dingtalk"})
"""Connection types whose login is a key rather than a public id (DingTalk's AppKey)."""


def sensitive(key: str) -> bool:
    """Airflow's rule (lower-cased, `\\W+` -> `_`, substring match) over the words it misses."""
    normalized = re.sub(r"\W+", "_", key.lower())
    return any(word in normalized for word in SENSITIVE_WORDS)


def secret_values(creds: Credentials) -> list[str]:
    values = [v for k, v in creds.extra.items() if sensitive(k)]
    if creds.conn_type in LOGIN_IS_SECRET:
        values.append(creds.login)
    return [v for v in values if isinstance(v, str) and v]


def mask_credentials(creds: Credentials) -> None:
    from airflow.sdk.log import mask_secret  # tells the supervisor too, so its log files are masked

    for value in secret_values(creds):
        mask_secret(value)
