"""The OCPP 1.6J server side: websocket endpoint, sessions, admission, validation, handlers.

Handlers only translate frames into domain events and answers; one CALL is in flight per station,
sent through the registry. This package must not import the services above it (charging, config)
nor the edges.
"""
