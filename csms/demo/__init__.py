"""`csms demo`: a whole simulated site (central system, grid meter, stations) run on this machine.

`scenario` is the scripted day (pure functions of the time of day), `run` wires the real central
system to the simulators and measures the grid, `view` renders its state with rich. The demo is an
edge like the CLI: nothing in the server imports it, and it only drives the server from outside.
"""

from csms.demo.run import DemoOptions, DemoState, DemoSummary, run_demo
from csms.demo.view import render, render_summary

__all__ = ["DemoOptions", "DemoState", "DemoSummary", "render", "render_summary", "run_demo"]
