"""csms/charging."""
