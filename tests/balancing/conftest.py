"""Tests of the pure allocator: tables, properties (hypothesis) and YAML scenarios.

Shared fixtures come from tests/conftest.py and tests/support/."""
