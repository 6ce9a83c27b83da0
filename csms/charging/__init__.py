"""Smart charging: one control loop per site turning meter readings and station events into limits.

The decisions are pure (`model`, `limits`, `profiles`, `planner`, `plausibility`; the balancing is
`balancing/`); `loop`, `dispatcher` and `service` are the thin shell that reads, sends and stores.
The edges see it through `interfaces.ChargingControl` and the frozen `readmodel` records that
`views` render. It must not import the edges (API, CLI, demo, simulate).
"""
