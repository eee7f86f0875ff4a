"""The pure core: data types and the decisions made on them, with no I/O.

Nothing here imports from the shell (fetch, store, deliver, daemon, cli).
"""
