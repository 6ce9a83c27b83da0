"""csms."""
