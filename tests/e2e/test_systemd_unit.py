"""systemd/watcher.service: hardened to the issue's target, yet still able to do its job."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

# the unit file
pytestmark = pytest.mark.sqlite_only

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "watcher.service"
MAX_EXPOSURE = 2.0


def directives(section: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of a section, repeated keys kept in order, as systemd reads them."""
    found: dict[str, list[str]] = {}
    current = None
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            continue
        if current == section:
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_rates_the_sandbox_exposure_at_most_2() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=20", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for watcher\.service: (\d+\.\d+)", output)
    assert match, f"no exposure figure in:\n{output}"
    assert float(match.group(1)) <= MAX_EXPOSURE, output
    assert result.returncode == 0, output


def test_systemd_waits_for_ready_watches_and_reloads_with_sighup() -> None:
    service = directives("Service")
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert int(service["WatchdogSec"][0].rstrip("s")) > 0
    (reload,) = service["ExecReload"]
    assert re.fullmatch(r"\S*kill -(HUP|SIGHUP|s HUP) \$MAINPID", reload)
    assert "run" in service["ExecStart"][0].split()


def test_the_database_has_a_writable_state_directory_in_a_read_only_system() -> None:
    service = directives("Service")
    assert service["StateDirectory"] == ["watcher"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["DynamicUser"] == ["yes"]


def test_the_sandbox_still_lets_it_reach_the_web_and_systemd() -> None:
    service = directives("Service")
    (families,) = service["RestrictAddressFamilies"]
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families.split())
    assert "PrivateNetwork" not in service
    assert "IPAddressAllow" not in service
    assert service.get("IPAddressDeny", []) in ([], ["169.254.169.254"])


def test_secrets_come_from_an_optional_root_only_file_not_the_unit() -> None:
    service = directives("Service")
    assert service["EnvironmentFile"] == ["-/etc/watcher/secrets.env"]
    assert "Environment" not in service
    assert "#LoadCredential=" in UNIT.read_text(encoding="utf-8")
