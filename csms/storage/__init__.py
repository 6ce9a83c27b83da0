"""csms/storage."""
