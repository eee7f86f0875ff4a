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


# `watcher run` without its config file watcher (the CLI has no switch for that): the
# same daemon, so that only SIGHUP can make it reload.
UNWATCHED = """\
import asyncio, sys
from pathlib import Path
from watcher.config import load_config
from watcher.daemon import Daemon
from watcher.log import setup_logging
setup_logging("info")
asyncio.run(Daemon(load_config(Path(sys.argv[1])), watch=False).run())
"""


class LoggedDaemon:
    """`watcher run` in a subprocess, its stderr collected as it comes."""

    def __init__(
        self, project: Project, env: dict[str, str] | None = None, *, watch: bool = True
    ) -> None:
        self.log_path = project.root / "daemon.log"
        self.log = self.log_path.open("w")
        command = (
            [sys.executable, "-m", "watcher", "--config", str(project.config), "run"]
            if watch
            else [sys.executable, "-c", UNWATCHED, str(project.config)]
        )
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
