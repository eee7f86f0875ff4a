"""sd_notify messages reach the socket systemd would hand us, byte for byte."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from watcher.sdnotify import Notifier


class Receiver:
    """Stands in for systemd: a bound AF_UNIX datagram socket."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value

    def notifier(self, **extra: str) -> Notifier:
        return Notifier({"NOTIFY_SOCKET": self.env_value, **extra})

    def receive(self) -> bytes:
        return self.sock.recv(4096)

    def nothing_more(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(2)
        return False


def _bound(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2)
    return sock


@pytest.fixture(params=["path", "abstract"])
def receiver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Receiver]:
    if request.param == "path":
        path = str(tmp_path / "notify.sock")
        with _bound(path) as sock:
            yield Receiver(sock, path)
    else:
        name = f"watcher-test-{uuid.uuid4().hex}"
        with _bound("\0" + name) as sock:
            yield Receiver(sock, "@" + name)


def test_each_message_arrives_as_one_exact_datagram(receiver: Receiver) -> None:
    notifier = receiver.notifier()
    assert notifier.enabled
    assert notifier.ready()
    assert receiver.receive() == b"READY=1"
    assert notifier.status("12 feeds ok, 1 failing; 3 alerts pending")
    assert receiver.receive() == b"STATUS=12 feeds ok, 1 failing; 3 alerts pending"
    assert notifier.watchdog()
    assert receiver.receive() == b"WATCHDOG=1"
    assert notifier.stopping()
    assert receiver.receive() == b"STOPPING=1"
    assert receiver.nothing_more()


def test_reloading_carries_the_monotonic_clock_systemd_checks(receiver: Receiver) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert receiver.notifier().reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = receiver.receive().split(b"\n")
    assert first == b"RELOADING=1"
    key, _, value = second.partition(b"=")
    assert key == b"MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_a_status_stays_on_one_line_so_it_cannot_smuggle_other_fields(
    receiver: Receiver,
) -> None:
    receiver.notifier().status("feeds ok\nREADY=1")
    assert receiver.receive() == b"STATUS=feeds ok READY=1"


def test_utf8_status_text_survives(receiver: Receiver) -> None:
    receiver.notifier().status("Hama: 2 alertes envoyées")
    assert receiver.receive() == "STATUS=Hama: 2 alertes envoyées".encode()


def test_without_notify_socket_every_call_is_a_quiet_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.status("anything")
    assert not notifier.watchdog()
    assert not notifier.reloading()
    assert not notifier.stopping()


def test_default_environment_is_the_process_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.env_value)
    Notifier().ready()
    assert receiver.receive() == b"READY=1"


@pytest.mark.parametrize("value", ["relative/notify.sock", "@", "vsock:2:1234"])
def test_an_address_systemd_would_not_give_is_ignored(value: str) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": value})
    assert not notifier.enabled
    assert not notifier.ready()


def test_a_vanished_socket_never_raises(tmp_path: Path) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()


def test_a_socket_nobody_reads_is_logged_at_debug_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "notify.sock"
    _bound(str(path)).close()  # the file stays, nobody listens: ECONNREFUSED
    caplog.set_level("DEBUG", logger="watcher.sdnotify")
    assert not Notifier({"NOTIFY_SOCKET": str(path)}).status("x")
    assert [r.levelname for r in caplog.records] == ["DEBUG"]


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    notifier = Notifier({"WATCHDOG_USEC": "60000000"})
    assert notifier.watchdog_interval() == 30.0


def test_watchdog_interval_applies_to_our_pid_only() -> None:
    ours = Notifier({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())})
    assert ours.watchdog_interval() == 10.0
    inherited = Notifier({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert inherited.watchdog_interval() is None


@pytest.mark.parametrize(
    "env",
    [{}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "soon"}, {"WATCHDOG_PID": "1"}],
)
def test_no_watchdog_interval_when_systemd_did_not_ask(env: dict[str, str]) -> None:
    assert Notifier(env).watchdog_interval() is None
