"""`csms simulate`: a site's day in simulated time with the real control policy, no sockets.

`scenario` reads the site file, load profile and sessions; `engine` steps the control loop's pure
step, the delivery planner, the simulated stations and EVs; `metrics` holds the figures shared with
`csms demo`; `bound` computes the offline optimum the benchmark compares against.
"""
