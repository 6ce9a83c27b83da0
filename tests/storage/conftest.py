"""Tests of both storage engines: the contract, typed records.

Shared fixtures come from tests/conftest.py and tests/support/."""
