"""`watcher run` as a real subprocess, started and stopped the way systemd would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import Project


def start_daemon(project: Project, *, new_session: bool = False) -> subprocess.Popen[str]:
    """``new_session``: its own process group (pgid = its pid), with its worker processes."""
    return subprocess.Popen(
        [sys.executable, "-m", "watcher", "--config", str(project.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=new_session,
    )


def stop_daemon(daemon: subprocess.Popen[str], timeout: float = 15) -> str:
    """SIGTERM, then the daemon's stderr; a stop that does not exit 0 fails the test."""
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=timeout)
    assert daemon.returncode == 0, stderr
    return stderr
