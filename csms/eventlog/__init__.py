"""The station event log: status history, connects, boots, firmware/diagnostics progress,
security events and DataTransfers in one paged, filterable log per station and per site."""
