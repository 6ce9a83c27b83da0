"""Tests of the cluster: site leases and fencing, hand-over, node leases and routing."""
