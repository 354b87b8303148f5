"""Settings from environment variables (pydantic-settings); the README's configuration table lists them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-change-me"  # noqa: S105 - refused in production


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # Where Temporal is. Left unset, the profile of Temporal's environment configuration decides (see
    # core/temporal.py), and failing that the local dev server's.
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    # Temporal's environment configuration: a profile of its TOML file (TLS, API key, ...).
    temporal_profile: str | None = None
    temporal_config_file: Path | None = None
    # Keys that encrypt Temporal payloads: "id:base64key,..." with the current key first (core/codec.py).
    payload_keys: str | None = None
    # Web UI origins allowed to call the codec endpoint from the browser (CORS).
    # Comma-separated.
    codec_allowed_origins: str = "http://localhost:8233,http://127.0.0.1:8233"
    # Worker Deployment Versioning: set WORKER_BUILD_ID to the release's git commit (worker.py).
    worker_build_id: str | None = None
    worker_deployment_name: str = "community-trigger"
    # How long a stopping worker lets running activities (an SMTP send) finish before it cancels them.
    worker_shutdown_seconds: float = 60.0
    # How long a case's next task waits on the worker that last ran it (its cache) before any worker may
    # take it: after a worker dies, its cases resume elsewhere within this long (Temporal's default).
    worker_sticky_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    temporal_task_queue: str = "community-trigger"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'community_trigger.db'}"
    smtp_host: str = "localhost"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_use_tls: bool = False
    smtp_timeout_seconds: float = 30.0
    public_base_url: str = "http://localhost:8000"
    # The From address of staff account emails (security codes, invitations, password resets); unset,
    # community-trigger@ the public host.
    staff_email_from: str | None = None
    secret_key: str = DEVELOPMENT_SECRET_KEY
    localities_dir: Path = PROJECT_ROOT / "localities"
    # Where the development mail sink keeps every message; the API lists them at /dev/mail.
    mail_sink_dir: Path = PROJECT_ROOT / "var" / "mail"
    log_level: str = "INFO"
    # Request bodies larger than this are refused (413) before they are read. The agency reply form, which
    # carries attachments, keeps its own larger limit (api/agency/forms.py).
    max_request_body_bytes: PositiveInt = 1024 * 1024
    # Rate limits per client address over a sliding hour (agency links also per link); a request over
    # the limit answers 429 with Retry-After. Unset, they are on except in development.
    rate_limits_enabled: bool | None = None
    rate_limit_apply_per_hour: PositiveInt = 10
    rate_limit_eligibility_per_hour: PositiveInt = 60
    rate_limit_agency_link_per_hour: PositiveInt = 60
    rate_limit_new_link_per_hour: PositiveInt = 10
    # Take the client's address from the last X-Forwarded-For entry (the one our own proxy added). Only
    # behind a proxy that sets it: otherwise anyone could choose the address they are counted under.
    trust_x_forwarded_for: bool = False
    # The worker's Temporal SDK metrics for Prometheus (core/telemetry.py), served at
    # http://<address>/metrics, for example "0.0.0.0:9464". Unset: the worker serves no metrics.
    worker_metrics_address: str | None = None
    # The API's /metrics: when set, only with "Authorization: Bearer <token>"; unset, only to clients
    # connecting from this machine's loopback address without a proxy's forwarding header.
    metrics_token: str | None = None

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == DEVELOPMENT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "SECRET_KEY must be set to a random value of at least 32 characters "
                    "when ENVIRONMENT=production"
                )
            if not self.payload_keys:
                raise ValueError(
                    "PAYLOAD_KEYS must be set when ENVIRONMENT=production: id:base64key with 32 random "
                    "bytes, for example k1:$(openssl rand -base64 32)"
                )
        return self

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @property
    def rate_limiting(self) -> bool:
        return self.rate_limits_enabled if self.rate_limits_enabled is not None else not self.is_development


@lru_cache
def get_settings() -> Settings:
    return Settings()
