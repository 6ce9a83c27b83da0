"""OCPP-J error codes (1.6 spelling) and the exceptions of outgoing calls."""

from __future__ import annotations

from typing import Any

# OCPP-J 1.6 §4.2.3 (note the spec's spelling "Occurence").
NOT_IMPLEMENTED = "NotImplemented"
NOT_SUPPORTED = "NotSupported"
INTERNAL_ERROR = "InternalError"
PROTOCOL_ERROR = "ProtocolError"
SECURITY_ERROR = "SecurityError"
FORMATION_VIOLATION = "FormationViolation"
PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
GENERIC_ERROR = "GenericError"


class OcppCallError(Exception):
    """Raised while handling an incoming CALL; becomes a CALLERROR frame."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}


class CallFailed(Exception):
    """An outgoing CALL did not get a usable CALLRESULT."""


class StationOffline(CallFailed):
    """The station has no open session (or it closed while we waited)."""

    def __init__(self, station_id: str) -> None:
        super().__init__(f"station {station_id} is offline")
        self.station_id = station_id


class CallTimeout(CallFailed):
    """No answer within the response timeout; a late answer is discarded, never mismatched."""

    def __init__(self, station_id: str, action: str, timeout: float) -> None:
        super().__init__(f"station {station_id} did not answer {action} within {timeout:g} s")
        self.station_id = station_id
        self.action = action


class CallErrorReceived(CallFailed):
    """The station answered with a CALLERROR."""

    def __init__(self, code: str, description: str, details: Any) -> None:
        super().__init__(f"station answered {code}: {description}")
        self.code = code
        self.description = description
        self.details = details
