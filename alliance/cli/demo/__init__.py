"""`alliance demo`: the whole governed flow on a throw-away alliance, end to end.

`data` makes the seeded synthetic datasets, `flow` drives the alliance through its steps and
checks that each happened as shown, `report` prints it.
"""
