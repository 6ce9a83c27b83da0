"""Tests of id tags and local lists: the pure decisions, the sync against simulated stations,
the CLI. Shared fixtures come from tests/conftest.py and tests/support/."""
