"""Smart charging: one control loop per site turning meter readings and station events into limits.

The decisions are pure (`model`, `limits`, `profiles`, `planner`, `plausibility`; the balancing is
`balancing/`); `loop`, `dispatcher` and `service` are the thin shell that reads, sends and stores.
It must not import the edges (API, CLI, demo, simulate).
"""
