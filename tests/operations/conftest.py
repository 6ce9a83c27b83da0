"""Tests of operator operations: command validation, the service against simulated stations
through the API and the CLI, reservations, firmware and diagnostics.

Shared fixtures come from tests/conftest.py and tests/support/."""
