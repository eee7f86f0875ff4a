"""What a test can see of processes through /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def living_in_group(pgid: int) -> list[int]:
    """Processes of the group that still run (zombies, left for init to reap, do not)."""
    living = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            living.append(int(entry.name))
    return living
