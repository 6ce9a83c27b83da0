"""csms/sim."""
