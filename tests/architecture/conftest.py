"""Tests of the code's shape: layer contracts, no import circles, file sizes.

Shared fixtures come from tests/conftest.py and tests/support/."""
