"""Tests of configuration keys: snapshots, validation, the change workflow, SCN plans and applies.

Shared fixtures come from tests/conftest.py and tests/support/."""
