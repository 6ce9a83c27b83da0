"""Tests of the deployment files under deploy/: Dockerfile, compose, HAProxy, Kubernetes, systemd.

Shared fixtures come from tests/conftest.py and tests/support/; parsing helpers from
tests/deploy/manifests.py."""
