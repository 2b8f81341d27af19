"""GovHall benchmarks (`scripts/bench`): report against goals, never gate.

Everything runs on temporary SQLite files and 127.0.0.1; nothing in the repository changes.
"""
