"""Settings of one aiplatform instance (its `plugins.toml` table); secrets live in the connection.

The connection (`connection_id`, an Airflow Connection or `AIRFLOW_CONN_<ID>`) holds `login` =
client id, `password` = client secret and the extra `webhook_secret` (plus `webhook_secret_previous`
while a secret is being rotated).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AIPlatformSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page_size: int = Field(100, ge=1, le=200, description="items per listing page (the protocol allows 200)")
    overlap_seconds: int = Field(120, ge=0, description="re-read this far behind the previous listing's as_of")
    requests_per_second: int = Field(20, ge=1, description="the platform's documented limit per client")
    webhook_tolerance_seconds: int = Field(300, ge=30, le=3600, description="accepted webhook clock skew")
    connect_timeout_seconds: float = Field(3.05, gt=0)
    read_timeout_seconds: float = Field(30.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=10, description="tries per call (retries on 429, 5xx, timeouts)")
    backoff_seconds: float = Field(0.5, ge=0, description="first retry delay; doubles with each retry")
