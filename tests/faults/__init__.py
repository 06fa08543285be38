"""Fault injection against real servers (issue 12): kills, database stops, dropped connections, full and read-only
disks, each checked against what callers heard. `harness.py` and `scenarios.py` are shared with bench/faults.py."""
