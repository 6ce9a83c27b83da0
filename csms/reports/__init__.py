"""Reports computed in the database: energy per tag, station and period."""
