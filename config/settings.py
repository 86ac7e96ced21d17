"""One validated Settings object, read once from ORDERFLOW_* variables (or a .env file)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Confirmation", "Settings", "get_settings"]


class Confirmation(StrEnum):
    """How an accepted order is confirmed to be on the POS."""

    WEBHOOK = "webhook"
    POLL = "poll"
    HYBRID = "hybrid"


class Settings(BaseSettings):
    """Everything orderflow reads from its environment (interface.md, 'Settings')."""

    model_config = SettingsConfigDict(
        env_prefix="ORDERFLOW_", env_file=".env", extra="ignore", frozen=True
    )

    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str | None = None

    kseries_base_url: str = "https://api.trial.lsk.lightspeed.app"
    kseries_access_token: SecretStr | None = None
    kseries_refresh_token: SecretStr | None = None
    kseries_token_url: str | None = None
    kseries_client_id: str | None = None
    kseries_client_secret: SecretStr | None = None
    kseries_timeout_s: float = Field(default=10.0, gt=0)
    # OAuth2 authorization-code grant (`orderflow auth login`).
    kseries_authorize_url: str | None = None
    kseries_redirect_uri: str = "http://127.0.0.1:8765/callback"
    kseries_scopes: str = "orders-api financial-api"
    # Hold orders while `GET /o/op/1/onlineOrderReadiness` says NOT_READY (one call per submit).
    readiness_check: bool = False

    endpoint_id: str = "orderflow"
    webhook_url: str = "http://127.0.0.1:8000/webhooks/kseries"
    webhook_username: str | None = None
    webhook_password: SecretStr | None = None

    api_token: SecretStr | None = None
    max_body_bytes: int = Field(default=256 * 1024, gt=0)

    confirmation: Confirmation = Confirmation.HYBRID
    order_ttl_ms: int = Field(default=300_000, ge=1)
    payment_ttl_ms: int = Field(default=300_000, ge=1)
    # K-Series refuses delivery limits under 60 s; only a sandbox run may lower this.
    min_ttl_ms: int = Field(default=60_000, ge=1)
    # How long `hybrid` waits for the ORDER notification before it starts polling.
    webhook_wait_ms: int = Field(default=3_000, ge=0)
    confirm_grace_ms: int = Field(default=30_000, ge=0)
    payment_grace_ms: int = Field(default=30_000, ge=0)
    poll_initial_ms: int = Field(default=1_000, ge=1)
    poll_max_ms: int = Field(default=30_000, ge=1)
    max_payment_attempts: int = Field(default=3, ge=1)
    # A claimed timer that is not rescheduled within this lease fires again (worker killed).
    timer_lease_ms: int = Field(default=5_000, ge=100)
    sweep_interval_s: float = Field(default=0.5, gt=0)

    @model_validator(mode="after")
    def _ttls_meet_minimum(self) -> Settings:
        for name in ("order_ttl_ms", "payment_ttl_ms"):
            if getattr(self, name) < self.min_ttl_ms:
                raise ValueError(f"ORDERFLOW_{name.upper()} must be at least {self.min_ttl_ms}")
        return self

    @property
    def broker(self) -> str:
        """The Celery broker: ORDERFLOW_BROKER_URL, else the state Redis."""
        return self.broker_url or self.redis_url

    @property
    def authorize_url(self) -> str:
        """V1 `{base}/oauth/authorize`; for a V2 realm token URL, the realm's `/auth`."""
        if self.kseries_authorize_url:
            return self.kseries_authorize_url
        if self.kseries_token_url and self.kseries_token_url.endswith("/openid-connect/token"):
            return self.kseries_token_url[: -len("token")] + "auth"
        return f"{self.kseries_base_url.rstrip('/')}/oauth/authorize"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint: V1's `{base}/oauth/token` unless set (V2 realm URL)."""
        return self.kseries_token_url or f"{self.kseries_base_url.rstrip('/')}/oauth/token"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built once at the edge (CLI, Celery app, ASGI app)."""
    return Settings()
