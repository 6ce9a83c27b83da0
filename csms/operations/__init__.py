"""Operator operations: every Central-System-initiated OCPP 1.6 command an operator sends by hand.

`commands` validates a request and builds its payload (pure, table-tested); `service` sends it
through a `StationLink` (one CALL in flight per station) and turns the station's own status into
a result or a refusal; `repository` keeps reservations, firmware files and updates, diagnostics
requests and the files stations upload.
"""
