"""A tiny sd_notify client, so ``Type=notify`` works without a libsystemd binding.

systemd hands the service a datagram socket in ``$NOTIFY_SOCKET`` and reads
newline-separated ``KEY=VALUE`` messages from it (``man sd_notify``).  Outside
systemd the variable is unset and every call is a no-op, so the daemon can
notify unconditionally.  Nothing here raises: a lost status line must never
stop the daemon (systemd's own watchdog catches a daemon that truly hangs).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

# A notification is a few bytes; never let a stalled receiver stall the event loop for long.
SEND_TIMEOUT = 1.0


def _address(value: str | None) -> str | None:
    """Absolute paths and ``@abstract`` names are what systemd hands out; ignore anything else."""
    if not value:
        return None
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    log.debug("NOTIFY_SOCKET=%r is not a path or an @abstract name; not notifying", value)
    return None


class Notifier:
    """Talks to systemd through ``$NOTIFY_SOCKET``; silent when there is no systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _address(env.get("NOTIFY_SOCKET"))
        self._watchdog_usec = env.get("WATCHDOG_USEC")
        self._watchdog_pid = env.get("WATCHDOG_PID")

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields as one datagram; True when systemd took it."""
        if self._address is None or not fields:
            return False
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(SEND_TIMEOUT)
                sock.sendto(message, self._address)
        except OSError as exc:
            log.debug("sd_notify %r failed: %s", fields, exc)
            return False
        return True

    def ready(self) -> bool:
        """Start-up (or a reload) is complete: ``systemctl start`` returns now."""
        return self.notify("READY=1")

    def status(self, text: str) -> bool:
        """The one-line status ``systemctl status`` shows under the unit."""
        return self.notify("STATUS=" + " ".join(text.splitlines()))

    def watchdog(self) -> bool:
        """Proof of life; send at least every :meth:`watchdog_interval` seconds."""
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        """A reload began; send :meth:`ready` when it is done.

        systemd 253+ matches the reload to its request by ``MONOTONIC_USEC``
        (CLOCK_MONOTONIC, as systemd reads it); older versions ignore the field.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        """Shutdown began: systemd shows "deactivating" instead of a hang."""
        return self.notify("STOPPING=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between :meth:`watchdog` pings (half of ``WatchdogSec=``), None if not asked.

        systemd sets ``WATCHDOG_PID`` so a child that inherited the environment
        does not take the watchdog for its own.
        """
        if self._watchdog_pid is not None:
            try:
                if int(self._watchdog_pid) != os.getpid():
                    return None
            except ValueError:
                return None
        try:
            usec = int(self._watchdog_usec or "")
        except ValueError:
            return None
        if usec <= 0:
            return None
        return usec / 2 / 1_000_000
