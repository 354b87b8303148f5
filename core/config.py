"""Settings from environment variables (pydantic-settings); the README's configuration table lists them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import model_validator
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
    # How long a stopping worker lets running activities (an SMTP send) finish before it cancels them.
    worker_shutdown_seconds: float = 60.0
    temporal_task_queue: str = "community-trigger"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'community_trigger.db'}"
    smtp_host: str = "localhost"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_use_tls: bool = False
    smtp_timeout_seconds: float = 30.0
    public_base_url: str = "http://localhost:8000"
    secret_key: str = DEVELOPMENT_SECRET_KEY
    localities_dir: Path = PROJECT_ROOT / "localities"
    # Where the development mail sink keeps every message; the API lists them at /dev/mail.
    mail_sink_dir: Path = PROJECT_ROOT / "var" / "mail"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            if self.secret_key == DEVELOPMENT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "SECRET_KEY must be set to a random value of at least 32 characters "
                    "when ENVIRONMENT=production"
                )
        return self

    @property
    def is_development(self) -> bool:
        return self.environment == "development"


@lru_cache
def get_settings() -> Settings:
    return Settings()
