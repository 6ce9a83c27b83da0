"""csms/ocpp."""
