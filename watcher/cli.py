"""The command-line face of watcher.  Nothing imports this module.

Exit codes (also in docs/cli.md):
  0  done (``once``: the pass ran, even if some feeds or deliveries failed)
  1  a negative answer (``match``: no match)
  2  bad usage or a config that does not validate
  3  the database cannot be used
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from watcher import __version__
from watcher.config import Config, load_config, locate_config
from watcher.core.errors import ConfigError, StoreError, WatcherError
from watcher.log import redact, setup_logging

EXIT_OK, EXIT_NO, EXIT_CONFIG, EXIT_STORE = 0, 1, 2, 3

T = TypeVar("T")
err_console = Console(stderr=True, highlight=False)


class Context:
    def __init__(self, config_option: str | None) -> None:
        self.config_path = locate_config(config_option, os.environ)

    def config(self) -> Config:
        config = load_config(self.config_path)
        redact(_secrets_in(config))
        return config


def _secrets_in(config: Config) -> list[str]:
    from watcher.config import ENV_VAR

    names = {
        var for ch in config.channels.values() for url in ch.urls for var in ENV_VAR.findall(url)
    }
    return [config.env[name] for name in names if config.env.get(name)]


def say(message: str) -> None:
    """A line for the user on stderr, never wrapped (scripts grep these)."""
    click.echo(message, err=True)


def fail(message: str, code: int) -> NoReturn:
    say(message)
    sys.exit(code)


def guarded(action: Callable[[], T]) -> T:
    """Turn the errors a user can cause into a message and an exit code, never a traceback."""
    try:
        return action()
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except StoreError as exc:
        fail(f"watcher: {exc}", EXIT_STORE)
    except WatcherError as exc:
        fail(f"watcher: {exc}", EXIT_CONFIG)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_option",
    metavar="PATH",
    help="Config file (default: $WATCHER_CONFIG, else ./config.yaml).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="Least severe log lines shown (`run` logs info too unless set).",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.version_option(__version__, prog_name="watcher")
@click.pass_context
def cli(ctx: click.Context, config_option: str | None, log_level: str, log_format: str) -> None:
    """watcher: follow news feeds and get one alert per story that matches your rules."""
    source = ctx.get_parameter_source("log_level")
    if ctx.invoked_subcommand == "run" and source == click.core.ParameterSource.DEFAULT:
        log_level = "info"
    setup_logging(log_level, log_format)
    ctx.obj = Context(config_option)


@cli.command()
@click.pass_obj
def run(obj: Context) -> None:
    """Run the daemon: poll every feed on its interval until stopped (SIGTERM, Ctrl-C)."""
    from watcher.daemon import Daemon

    config = guarded(obj.config)
    guarded(lambda: asyncio.run(Daemon(config).run()))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")
@click.option(
    "--force", is_flag=True, help="Also poll feeds held by a server's Retry-After or a backoff."
)
@click.pass_obj
def once(obj: Context, as_json: bool, force: bool) -> None:
    """Poll every feed now, match, deliver, and exit.

    Feeds inside a server-requested delay or an error backoff are left alone
    unless --force.  Exits 0 when the pass ran, even if some feeds failed (they
    are logged); 2 on a bad config, 3 on an unusable database.
    """
    config = guarded(obj.config)
    report = guarded(lambda: asyncio.run(_once(config, as_json, force)))
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))


async def _once(config: Config, as_json: bool, force: bool) -> dict[str, Any]:
    from rich.progress import Progress

    from watcher.pipeline import open_pipeline

    # With --json, stdout carries the report, so alerts for `stdout` go to stderr.
    async with open_pipeline(config, stdout=sys.stderr if as_json else None) as pipeline:
        feeds = list(config.feeds)
        if sys.stderr.isatty() and len(feeds) > 1:
            with Progress(console=err_console, transient=True) as progress:
                task = progress.add_task("polling feeds", total=len(feeds))

                async def tracked(feed: Any) -> Any:
                    outcome = await pipeline.poll(feed, force=force)
                    progress.advance(task)
                    return outcome

                outcomes = list(await asyncio.gather(*(tracked(f) for f in feeds)))
        else:
            outcomes = await pipeline.poll_all(feeds, force=force)
        delivery = await pipeline.deliver_due(everything=True)
    failed = [o for o in outcomes if not o.ok]
    if failed and not as_json:
        say(f"watcher: {len(failed)} of {len(outcomes)} feeds failed (see the log above)")
    if delivery.failed and not as_json:
        say(f"watcher: {delivery.failed} deliveries failed and are kept for retry")
    return {
        "feeds": [asdict(o) | {"ok": o.ok} for o in outcomes],
        "deliveries": asdict(delivery),
    }


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print problems as a JSON list.")
@click.pass_obj
def validate(obj: Context, as_json: bool) -> None:
    """Check the config and report every problem at once, each with file and line."""
    try:
        obj.config()
    except ConfigError as exc:
        if as_json:
            click.echo(json.dumps([asdict(p) for p in exc.problems], indent=2))
        else:
            for problem in exc.problems:
                say(str(problem))
        sys.exit(EXIT_CONFIG)
    if as_json:
        click.echo("[]")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_obj
def feeds(obj: Context, as_json: bool) -> None:
    """Show every configured feed's health: last fetch, status, error, failures, next poll."""
    from watcher.store import Store

    config = guarded(obj.config)
    store = guarded(lambda: Store(config.database))
    try:
        rows = feed_health(config, store.feeds_status())
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in (
        "feed",
        "url",
        "last fetch",
        "status",
        "items",
        "failures",
        "next poll",
        "error",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"],
            row["url"],
            _short_time(row["last_fetch"]),
            str(row["last_status"] or "-"),
            str(row["items"]),
            str(row["consecutive_failures"]),
            _short_time(row["next_poll"]) or "now",
            row["last_error"] or row["problem"] or "",
            style="red" if row["consecutive_failures"] else None,
        )
    Console().print(table)


def feed_health(config: Config, stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configured feed (in config order), whether or not it was ever polled."""
    by_name = {row["name"]: row for row in stored}
    rows = []
    for feed in config.feeds:
        row = by_name.get(feed.name, {})
        rows.append(
            {
                "name": feed.name,
                "url": feed.url,
                "polled_url": row.get("effective_url") or feed.url,
                "last_fetch": row.get("last_fetch"),
                "last_status": row.get("last_status"),
                "last_error": row.get("last_error"),
                "problem": row.get("problem"),
                "items": row.get("items", 0),
                "consecutive_failures": row.get("consecutive_failures", 0),
                "failing_since": row.get("failing_since"),
                "next_poll": row.get("next_poll"),
                "held_until": row.get("hold_until"),
            }
        )
    return rows


def _short_time(value: str | None) -> str:
    return value.replace("T", " ").removesuffix("+00:00") if value else ""


def main() -> None:
    cli(prog_name="watcher")


if __name__ == "__main__":
    main()
