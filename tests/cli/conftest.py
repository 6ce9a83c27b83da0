"""Tests of the `csms` command line's output.

Shared fixtures come from tests/conftest.py and tests/support/."""
