"""Tests of the HTTP API: JSON shapes, the OpenAPI schema, station and transaction endpoints.

Shared fixtures come from tests/conftest.py and tests/support/."""
