"""csms/api."""
