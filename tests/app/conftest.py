"""Tests of the composition root and process: settings, start-up, shutdown, crash safety, events.

Shared fixtures come from tests/conftest.py and tests/support/."""
