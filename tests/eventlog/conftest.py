"""The event log: reading, vendor error meanings, pruning (both engines)."""
