"""csms/cli."""
