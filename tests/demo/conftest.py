"""Tests of the demo day end to end.

Shared fixtures come from tests/conftest.py and tests/support/."""
