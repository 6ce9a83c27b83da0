"""An OCPP 1.6J central system with smart charging: the shell around the pure `balancing` core.

`csms.app` builds and wires the parts; the OCPP server, storage, meters and services live in their
own packages, and `csms.sim`/`csms.demo` stand in for the outside world. Decisions belong in pure,
table-tested code; the shell does the I/O and must not decide.
"""
