"""The station's own Modbus TCP slave (Alfen EMS mode): a second control path and sensor source.

`registers` is the map as data, `client` one connection, `control` the pure setpoint decisions,
`link` the shell that keeps one connection per station busy and writes what `control` decides.
"""
