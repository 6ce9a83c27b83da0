"""Remote configuration of stations: the key catalog, snapshots, validated changes, licences, SCN.

The change workflow is a pure state machine (`workflow`, `changes`) run by a thin per-station
worker; values are validated against the catalog before anything is sent. The edges see it
through `interfaces.ConfigControl` and the records. It must not import the edges (API, CLI, demo,
simulate).
"""
