"""Meter settings (the `[sites.meter]` table); validated at start-up.

Owned by the meter input module; `csms.settings` embeds `MeterSettings` in each site.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MeterSettings(BaseModel):
    """How a site's grid meter is reached."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["modbus", "simulated", "none"] = "none"
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=5, ge=0, le=255)
    model: str = "socomec-e27"
    poll_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=2.0, gt=0)
