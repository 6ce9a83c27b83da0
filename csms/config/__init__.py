"""csms/config."""
