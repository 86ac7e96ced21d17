"""One validated Settings object, read once from ORDERFLOW_* variables (or a .env file)."""

from __future__ import annotations

import base64
from enum import StrEnum
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

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
    # Redis through Sentinel (`host:port,host:port`): the primary is asked for, not configured.
    redis_sentinels: str | None = None
    redis_sentinel_master: str = "orderflow"
    # Replicas (Redis WAIT) that must hold an accepted order or a payment reference before it
    # counts: None means 1 with sentinels, else 0.
    redis_wait_replicas: int | None = Field(default=None, ge=0)
    redis_wait_ms: int = Field(default=500, ge=1)

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
    # Basic credentials of the ops pages (`/ops`); both or neither.
    ops_username: str | None = None
    ops_password: SecretStr | None = None

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
    # 401/403 (credentials refused): tries this far apart, doubling up to the max.
    auth_backoff_ms: int = Field(default=60_000, ge=1)
    auth_backoff_max_ms: int = Field(default=600_000, ge=1)
    # After a 429 a location's waiting calls go one by one, this far apart.
    rate_limit_spacing_ms: int = Field(default=100, ge=1)
    max_payment_attempts: int = Field(default=3, ge=1)
    # A claimed timer that is not rescheduled within this lease fires again (worker killed).
    timer_lease_ms: int = Field(default=5_000, ge=100)
    sweep_interval_s: float = Field(default=0.5, gt=0)
    # Status events to the producer (Standard Webhooks), off unless a URL is set.
    events_url: str | None = None
    events_secret: SecretStr | None = None
    events_retry_hours: float = Field(default=24.0, gt=0)
    events_timeout_s: float = Field(default=5.0, gt=0)
    events_backoff_initial_ms: int = Field(default=1_000, ge=1)
    events_backoff_max_ms: int = Field(default=300_000, ge=1)
    # Deliveries at once per worker process: the other task slots stay with the orders.
    events_concurrency: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _events_signed(self) -> Settings:
        """Unsigned events would be forgeable: a URL without a usable secret refuses to start."""
        if self.events_url is None:
            return self
        secret = self.events_secret.get_secret_value() if self.events_secret else ""
        key = secret.removeprefix("whsec_")
        try:
            valid = secret.startswith("whsec_") and len(base64.b64decode(key, validate=True)) > 0
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(
                "ORDERFLOW_EVENTS_URL needs ORDERFLOW_EVENTS_SECRET: 'whsec_' + a base64 key"
            )
        return self

    @model_validator(mode="after")
    def _ttls_meet_minimum(self) -> Settings:
        for name in ("order_ttl_ms", "payment_ttl_ms"):
            if getattr(self, name) < self.min_ttl_ms:
                raise ValueError(f"ORDERFLOW_{name.upper()} must be at least {self.min_ttl_ms}")
        return self

    @model_validator(mode="after")
    def _ops_credentials_paired(self) -> Settings:
        """One of the pair alone would leave the ops pages open or unusable: refuse to start."""
        if (self.ops_username is None) != (self.ops_password is None):
            raise ValueError(
                "set both ORDERFLOW_OPS_USERNAME and ORDERFLOW_OPS_PASSWORD, or neither"
            )
        if self.ops_username is not None and (not self.ops_username or ":" in self.ops_username):
            raise ValueError(
                "ORDERFLOW_OPS_USERNAME must be non-empty and without ':' (Basic auth)"
            )
        if self.ops_password is not None and not self.ops_password.get_secret_value():
            raise ValueError("ORDERFLOW_OPS_PASSWORD must not be empty")
        return self

    @model_validator(mode="after")
    def _webhook_credentials_paired(self) -> Settings:
        """One of the pair alone used to turn webhook authentication off: refuse to start."""
        if (self.webhook_username is None) != (self.webhook_password is None):
            given = "USERNAME" if self.webhook_username is not None else "PASSWORD"
            raise ValueError(
                "set both ORDERFLOW_WEBHOOK_USERNAME and ORDERFLOW_WEBHOOK_PASSWORD, or neither "
                f"(only ORDERFLOW_WEBHOOK_{given} is set; webhooks would be unauthenticated)"
            )
        if self.webhook_username is not None and (
            not self.webhook_username or ":" in self.webhook_username
        ):
            raise ValueError(
                "ORDERFLOW_WEBHOOK_USERNAME must be non-empty and without ':' (Basic auth)"
            )
        if self.webhook_password is not None and not self.webhook_password.get_secret_value():
            raise ValueError("ORDERFLOW_WEBHOOK_PASSWORD must not be empty")
        return self

    @model_validator(mode="after")
    def _sentinels_usable(self) -> Settings:
        """A malformed address would only fail at the first connection: refuse to start."""
        if self.redis_sentinels is None:
            return self
        for entry in self.redis_sentinels.split(","):
            host, _, port = entry.strip().rpartition(":")
            if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(
                    f"ORDERFLOW_REDIS_SENTINELS: {entry.strip()!r} is not host:port "
                    "(comma-separated, e.g. 10.0.0.1:26379,10.0.0.2:26379)"
                )
        if urlsplit(self.redis_url).scheme != "redis":
            raise ValueError(
                "with ORDERFLOW_REDIS_SENTINELS, ORDERFLOW_REDIS_URL must be redis:// (it gives "
                "the database and credentials; TLS and unix sockets through Sentinel are not supported)"
            )
        return self

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        """ORDERFLOW_REDIS_SENTINELS as (host, port) pairs; empty without Sentinel."""
        if self.redis_sentinels is None:
            return []
        pairs = (entry.strip().rpartition(":") for entry in self.redis_sentinels.split(","))
        return [(host.strip("[]"), int(port)) for host, _, port in pairs]

    @property
    def wait_replicas(self) -> int:
        """Replicas a write that must survive a failover waits for (ORDERFLOW_REDIS_WAIT_REPLICAS)."""
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.sentinels else 0

    @property
    def broker(self) -> str:
        """The Celery broker: ORDERFLOW_BROKER_URL, else the state Redis (through the same
        sentinels, kombu's `sentinel://` transport, when they are set)."""
        if self.broker_url or not self.sentinels:
            return self.broker_url or self.redis_url
        url = urlsplit(self.redis_url)
        auth = url.netloc.rpartition("@")[0]
        db = url.path.strip("/") or parse_qs(url.query).get("db", ["0"])[0]
        return ";".join(
            f"sentinel://{auth + '@' if auth else ''}{_host(host)}:{port}/{db}"
            for host, port in self.sentinels
        )

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


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # an IPv6 address in a URL


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built once at the edge (CLI, Celery app, ASGI app)."""
    return Settings()
