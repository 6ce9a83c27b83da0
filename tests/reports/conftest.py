"""Reports computed in the database, on both engines."""
