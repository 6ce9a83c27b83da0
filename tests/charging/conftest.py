"""Tests of the charging service: limits, the site loop, profile delivery, end to end.

Shared fixtures come from tests/conftest.py and tests/support/."""
