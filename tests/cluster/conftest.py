"""Tests of the cluster (csms/cluster, docs/cluster.md): pure table tests of envelopes, routing,
leases and event serialisation; central systems in this process on one PostgreSQL schema; and
real `csms serve` processes started by tests/support/cluster.py (PostgreSQL required when
CI=true, through the `postgres_url` fixture).

Shared fixtures come from tests/conftest.py and tests/support/."""
