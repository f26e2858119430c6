"""Crash-and-recovery drill: a mixed load on the local host, SIGKILLed and restarted, then every invariant checked.

    python -m tools.crash_drill [--runs 10] [--seed 1] [--kills 3] [--files 1000] [--orders 60] [--leaves 20]

Modules: `plan` (the seeded load and kill moments), `host` (kill, restart, calls that outlive
a kill), `load` (the HTTP clients, retrying with the same ids), `checks` (the invariants),
`run` (one run end to end), `__main__` (the command line).
"""
