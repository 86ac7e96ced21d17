"""The sandbox's knobs: one mutable model, changed at runtime through `PATCH /_sandbox/config`.

Fault rates are probabilities per request (or per notification). The three request faults
share one roll, so `error_rate=0.1, rate_limit_rate=0.1` means 10 % each, never both; a storm
location's request rolls its storm faults first, then those.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

__all__ = ["LostAnswerMode", "Rate", "SandboxConfig"]

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
LostAnswerMode = Literal["502", "reset", "mixed"]


class SandboxConfig(BaseModel):
    """Everything the sandbox can be told; defaults behave like a healthy K-Series."""

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    # --- the POS ---------------------------------------------------------------------------
    pos_delay_s: Annotated[float, Field(ge=0.0)] = 2.0
    service_charge_rate: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.10")
    offline_locations: set[int] = Field(default_factory=set)
    min_ttl_ms: Annotated[int, Field(ge=0)] = 60_000
    # K-Series' default delivery limit when the caller sends none is undocumented.
    default_ttl_ms: Annotated[int, Field(ge=1)] = 300_000
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "EUR"

    # --- request faults (K-Series routes only, never /_sandbox) -----------------------------
    error_rate: Rate = 0.0
    rate_limit_rate: Rate = 0.0
    retry_after_s: Annotated[int, Field(ge=0)] = 1
    lost_answer_rate: Rate = 0.0
    # "reset" cuts the connection mid-answer: only meaningful behind a real server (uvicorn).
    lost_answer_mode: LostAnswerMode = "mixed"
    fault_oauth: bool = False
    # A storm on a few locations (say 25 % failing, a third of them 429): rolled first for
    # requests naming one of `storm_locations` (path, query or body), the faults above after.
    storm_locations: set[int] = Field(default_factory=set)
    storm_error_rate: Rate = 0.0
    storm_rate_limit_rate: Rate = 0.0

    # --- notification faults ----------------------------------------------------------------
    webhook_drop_rate: Rate = 0.0
    webhook_duplicate_rate: Rate = 0.0
    webhook_delay_s: Annotated[float, Field(ge=0.0)] = 0.0
    webhook_reorder_rate: Rate = 0.0
    webhook_retries: Annotated[int, Field(ge=0, le=20)] = 0
    webhook_timeout_s: Annotated[float, Field(gt=0.0)] = 5.0

    # --- auth -------------------------------------------------------------------------------
    require_auth: bool = False
    token_ttl_s: Annotated[int, Field(ge=1)] = 3600
    client_id: str | None = None
    client_secret: str | None = None

    seed: int | None = None

    @field_serializer("service_charge_rate")
    def _rate_as_string(self, value: Decimal) -> str:
        return str(value)

    @field_serializer("offline_locations", "storm_locations")
    def _sorted_locations(self, value: set[int]) -> list[int]:
        return sorted(value)

    @field_serializer("client_secret")
    def _hide_secret(self, value: str | None) -> str | None:
        return None if value is None else "********"

    def patched(self, changes: dict[str, Any]) -> SandboxConfig:
        """A validated copy with `changes` applied; raises pydantic's ValidationError."""
        current = self.model_dump(mode="python")
        current["client_secret"] = self.client_secret
        return SandboxConfig.model_validate({**current, **changes})

    def update_from(self, other: SandboxConfig) -> None:
        """Copy every field in place, so holders of this object see the change."""
        for name in type(self).model_fields:
            setattr(self, name, getattr(other, name))
