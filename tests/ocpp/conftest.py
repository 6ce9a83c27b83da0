"""Tests of the OCPP shell: sessions, admission, the boot gate, bad input, floods, TLS.

Shared fixtures come from tests/conftest.py and tests/support/."""
