"""Id tags (RFID cards): status, expiry, groups, per-station restriction, and the Local
Authorization List kept in step with them on every station that supports one."""
