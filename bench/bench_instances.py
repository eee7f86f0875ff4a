"""Feeds polled and alerts sent per second: one SQLite process, and one, two and three
instances on one PostgreSQL database, on the same feeds (#17).

The feeds are soak.py's loopback server (``--feeds`` feeds on ``--hosts`` loopback hosts,
50 items each, 1-2 new items every ``--new-every`` seconds, one feed in ten flaky,
2% of deliveries answered 500), all with the same short ``--interval`` so that
demand outruns what one process can poll.  Each setup gets a fresh database,
runs its first pass (until the server has had two requests a feed), warms up
``--warm`` seconds more, then is measured
for ``--seconds``: the server counts feed requests and alerts received.  CPU
seconds of the watcher processes and of the PostgreSQL server over the same
window say where the time goes.

Run: ``python bench/bench_instances.py`` (``--help``).  Starts its own PostgreSQL
(tests/support/postgres.py: initdb in a temporary folder, as the ``postgres`` user
when run as root).  Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from soak import (  # noqa: E402  (bench/ is not a package)
    SEED,
    ServerProcess,
    ServerSpec,
    descendants,
    proc_stat,
    rules,
)

from tests.support.postgres import PostgresServer, unavailable  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    setup: str
    instances: int
    polls_per_s: float
    alerts_per_s: float
    watcher_cpu_s: float
    postgres_cpu_s: float
    seconds: float
    errors: int
    first_pass_s: float


def config_text(
    database: str, urls: list[str], capture_port: int, args: argparse.Namespace, name: str
) -> str:
    capture = f"127.0.0.1:{capture_port}"
    lines = [
        f"database: '{database}'",
        f"instance: {name}",
        f"interval: {args.interval}",
        "lease: 30s",
        "max_age: 2d",
        f"workers: {args.workers}",
        "fetch: {connect_timeout: 4s, read_timeout: 4s, deadline: 8s, backoff_cap: 2m}",
        "channels:",
        f"  capture: 'json://{capture}/alerts'",
        "feeds:",
    ]
    lines += [f"  - {{name: f{i:04d}, url: '{url}'}}" for i, url in enumerate(urls)]
    lines.append("rules:")
    for rule, query in rules(SEED):
        lines += [f"  - name: {rule}", f"    query: '{query}'", "    notify: capture"]
    return "\n".join(lines) + "\n"


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their descendants, so far."""
    total = 0.0
    for root in pids:
        for pid in [root, *(child for child, _ in descendants(root))]:
            stat = proc_stat(pid)
            if stat is not None:
                total += stat[1]
    return total


def postgres_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run_setup(
    setup: str,
    instances: int,
    database: str,
    server: ServerProcess,
    args: argparse.Namespace,
    work: Path,
) -> Result:
    folder = work / f"{setup}-{instances}"
    folder.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    for n in range(instances):
        config = folder / f"config-{n}.yaml"
        config.write_text(
            config_text(database, server.info["urls"], server.info["capture_port"], args, f"i{n}")
        )
        log = (folder / f"log-{n}.txt").open("wb")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "watcher", "--config", str(config), "run"],
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=folder,
            )
        )
    try:
        # Warm: past the first pass (every feed's 50 items parsed, matched, clustered, and
        # their alerts sent), and then --warm seconds more, whatever that took.
        start, base = time.monotonic(), server.stats()["requests"]
        while server.stats()["requests"] - base < 2 * args.feeds:
            if time.monotonic() - start > 600:
                raise RuntimeError(f"{setup} x{instances}: first pass not done in 600 s")
            time.sleep(1)
        first_pass = time.monotonic() - start
        time.sleep(args.warm)
        before, t0 = server.stats(), time.monotonic()
        cpu0, pg0 = cpu_seconds([p.pid for p in procs]), cpu_seconds(postgres_pids())
        time.sleep(args.seconds)
        after, t1 = server.stats(), time.monotonic()
        cpu1, pg1 = cpu_seconds([p.pid for p in procs]), cpu_seconds(postgres_pids())
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
    elapsed = t1 - t0
    errors = sum(
        (folder / f"log-{n}.txt").read_bytes().count(b"Traceback") for n in range(instances)
    )
    return Result(
        setup=setup,
        instances=instances,
        polls_per_s=(after["requests"] - before["requests"]) / elapsed,
        alerts_per_s=(after["alerts"] - before["alerts"]) / elapsed,
        watcher_cpu_s=cpu1 - cpu0,
        postgres_cpu_s=(pg1 - pg0) if setup == "postgresql" else 0.0,
        seconds=elapsed,
        errors=errors,
        first_pass_s=first_pass,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=400)
    parser.add_argument("--hosts", type=int, default=16, help="loopback hosts serving them")
    parser.add_argument("--interval", default="2s", help="every feed's poll interval")
    parser.add_argument("--new-every", type=float, default=20.0, help="seconds between items")
    parser.add_argument("--workers", type=int, default=0, help="parse workers per instance")
    parser.add_argument("--warm", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--json", dest="json_path", help="write the results here too")
    args = parser.parse_args(argv)
    why = unavailable()
    if why:
        print(f"bench_instances: {why}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="watcher-bench-instances-"))
    pg = PostgresServer().start()
    results: list[Result] = []
    try:
        spec = ServerSpec(feeds=args.feeds, hosts=args.hosts, seed=SEED, new_every=args.new_every,
                          lifetime=3600)  # fmt: skip
        setups = [("sqlite", 1), ("postgresql", 1), ("postgresql", 2), ("postgresql", 3)]
        for setup, instances in setups:
            with ServerProcess(spec) as server:
                database = (
                    str(work / f"sqlite-{instances}.db") if setup == "sqlite" else pg.new_database()
                )
                result = run_setup(setup, instances, database, server, args, work)
                results.append(result)
                print(
                    f"{setup:<11} x{instances}: {result.polls_per_s:7.1f} polls/s "
                    f"{result.alerts_per_s:6.2f} alerts/s  watcher CPU "
                    f"{result.watcher_cpu_s / result.seconds:4.2f} cores, postgres "
                    f"{result.postgres_cpu_s / result.seconds:4.2f} cores; first pass "
                    f"{result.first_pass_s:.0f} s"
                    + (f"  ({result.errors} tracebacks!)" if result.errors else ""),
                    flush=True,
                )
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    demand = args.feeds / float(args.interval.rstrip("s"))
    print(f"(demand: {args.feeds} feeds every {args.interval} = {demand:.0f} polls/s; "
          f"{os.cpu_count()} CPUs)")  # fmt: skip
    if args.json_path:
        Path(args.json_path).write_text(json.dumps([vars(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
