"""Tests of `csms simulate`: the control policy in simulated time.

Shared fixtures come from tests/conftest.py and tests/support/."""
