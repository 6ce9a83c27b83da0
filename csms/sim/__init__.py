"""Stand-ins for the outside world: simulated Alfen stations (OCPP 1.6J clients) and a Modbus meter.

Tests, `csms demo`, `csms simulate` and the benchmarks drive them; their pure parts (`model`,
`smart_charging`, `configuration`) do no I/O and are given the time. The simulator must import no
server code, so it can stand in front of any central system.
"""
