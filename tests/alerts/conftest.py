"""Alerts: the pure rules and the shell with its webhook, against simulated stations."""
