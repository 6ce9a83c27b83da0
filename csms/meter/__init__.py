"""csms/meter."""
