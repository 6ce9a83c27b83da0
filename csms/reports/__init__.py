"""Reports computed in the database: energy per id tag, per station and per period (day, week,
month), one SQL query per engine over closed transactions, counting Alfen's meter-register resets;
the API and the CLI render them as JSON or CSV (`energy.py`)."""
