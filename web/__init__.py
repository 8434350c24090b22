"""HTTP serving plumbing shared by the control server and the simulator (imports nothing else of ours)."""
