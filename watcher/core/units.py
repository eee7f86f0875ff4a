"""Units as users write them in config: durations (``90s``, ``1h30m``) and sizes (``10MB``)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int | float) -> timedelta:
    """Parse a duration; a bare number is seconds. Raises ValueError with a readable message."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as 90s, 10m, 2h or 2d")
    if isinstance(text, int | float):
        return timedelta(seconds=text)
    compact = text.strip().replace(" ", "")
    if compact.replace(".", "", 1).isdigit():
        return timedelta(seconds=float(compact))
    pos = 0
    total = 0.0
    for part in _PART.finditer(compact):
        if part.start() != pos:
            break
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2).lower()]
        pos = part.end()
    if pos != len(compact) or not compact:
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit s, m, h, d or w (e.g. 10m, 2d)"
        )
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling of a duration, for messages and status tables."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.I)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str | int) -> int:
    """Bytes from ``10MB``, ``512KB`` or a bare number; KB, MB, GB are binary (1 MB = 1024 KB)."""
    if isinstance(text, bool):
        raise ValueError("expected a size such as 10MB")
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size: use a number and B, KB, MB or GB (e.g. 10MB)")
    unit = (match.group(2) or "").lower()
    return int(float(match.group(1)) * _SIZE_UNITS[unit[:1]])
