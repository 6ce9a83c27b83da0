"""Smart-charging settings (the `[charging]` table); validated at start-up.

Owned by the smart-charging module; `csms.settings.Settings` embeds `ChargingSettings`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChargingSettings(BaseModel):
    """How limits are delivered to stations."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    profile_validity_s: float = Field(default=300, gt=0, le=86400)
    """TxProfiles end this long after they were sent unless renewed: when the central system goes
    silent, stations fall back to the safe TxDefaultProfile within this time."""
    renew_before_s: float | None = Field(default=None, gt=0)
    """Renew a profile this long before it ends (default: half the validity)."""
    deadband_a: float = Field(default=1.0, ge=0, le=10)
    """Changes smaller than this are not sent (never a decrease needed for safety)."""
    retry_backoff_s: float = Field(default=1.0, gt=0)
    retry_backoff_max_s: float = Field(default=60.0, gt=0)
    min_rewrite_interval_s: float = Field(default=30.0, ge=0, le=3600)
    """A connector's profile is rewritten at most this often (each rewrite may be a flash write on
    the station); urgent decreases, the first limit of a session and renewals are not held back."""
    verify_tolerance_a: float = Field(default=0.5, ge=0, le=10)
    """The composite schedule (or Current.Offered) may differ this much from what the station
    accepted before it counts as a disagreement and the limit is re-sent."""
    verify_max_resends: int = Field(default=3, ge=0, le=100)
    """Re-sends after disagreements before the API says the station does not agree (and stops)."""
    offered_grace_s: float = Field(default=10.0, gt=0, le=600)
    """Current.Offered above the accepted limit for longer than this is a disagreement."""
    control_interval_s: float = Field(default=1.0, gt=0, le=60)
    """The control loop runs at least this often, readings or not (meter staleness, renewals)."""
    snapshot_refresh_s: float = Field(default=30.0, gt=0)
    """Unused: snapshots now reach the control loop as events. Accepted so that configuration
    files written for earlier versions still load."""

    @model_validator(mode="after")
    def _consistent(self) -> ChargingSettings:
        if self.renew_before_s is not None and self.renew_before_s >= self.profile_validity_s:
            raise ValueError("renew_before_s must be shorter than profile_validity_s")
        if self.retry_backoff_max_s < self.retry_backoff_s:
            raise ValueError("retry_backoff_max_s must not be shorter than retry_backoff_s")
        return self

    @property
    def renew_margin_s(self) -> float:
        if self.renew_before_s is not None:
            return self.renew_before_s
        return self.profile_validity_s / 2
