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
from contextlib import closing
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urljoin

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from watcher import __version__
from watcher.clock import utc_now
from watcher.config import (
    Config,
    channel_secrets,
    database_secrets,
    json_schema,
    load_config,
    locate_config,
)
from watcher.core.cluster import Fingerprint, similarity, stored_fingerprint
from watcher.core.cluster import explain as explain_pair
from watcher.core.decide import corroboration
from watcher.core.errors import ConfigError, FeedError, QueryError, StoreError, WatcherError
from watcher.core.extract import extract_article
from watcher.core.models import STDOUT_CHANNEL, FeedSpec, Notice, RuleSpec, Story
from watcher.core.opml import write_opml
from watcher.core.outbox import DeliveryReport, orphan_reason, orphaned_channels
from watcher.core.records import Mute
from watcher.core.rules import RuleBook, compile_rule, prepare, snippet
from watcher.core.sitemap import robots_sitemaps
from watcher.core.sniff import advertised_feeds, classify
from watcher.core.units import parse_duration
from watcher.daemon import DELIVERY_INTERVAL, Daemon
from watcher.deliver import Deliverer
from watcher.fetch import FetchedFeed, Fetcher, FetchRequest, FetchSettings, user_agent
from watcher.lock import DatabaseBusy, WriterLock
from watcher.log import log_warnings, redact, setup_logging
from watcher.opml_import import import_opml
from watcher.outbox import hold_orphans
from watcher.pipeline import FeedOutcome
from watcher.store import Store
from watcher.wiring import open_pipeline, prune, store_for

EXIT_OK, EXIT_NO, EXIT_CONFIG, EXIT_STORE = 0, 1, 2, 3

T = TypeVar("T")
err_console = Console(stderr=True, highlight=False)


class Context:
    def __init__(self, config_option: str | None) -> None:
        self.config_path = locate_config(config_option, os.environ)

    def config(self) -> Config:
        config = load_config(self.config_path)
        redact(channel_secrets(config.channels.values(), config.env) + database_secrets(config))
        return config


def say(message: str) -> None:
    """A line for the user on stderr, never wrapped (scripts grep these)."""
    click.echo(message, err=True)


def fail(message: str, code: int) -> NoReturn:
    say(message)
    sys.exit(code)


def _window(command: str, since: str, option: str = "--since") -> timedelta:
    """A duration option; a bad one ends ``watcher COMMAND`` with EXIT_CONFIG."""
    try:
        return parse_duration(since)
    except ValueError as exc:
        fail(f"watcher {command}: {option}: {exc}", EXIT_CONFIG)


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

    log_warnings(config)
    # With --json, stdout carries the report, so alerts for `stdout` go to stderr.
    async with open_pipeline(config, stdout=sys.stderr if as_json else None) as pipeline:
        feeds = list(config.feeds)
        if sys.stderr.isatty() and len(feeds) > 1:
            with Progress(console=err_console, transient=True) as progress:
                task = progress.add_task("polling feeds", total=len(feeds))

                async def tracked(feed: FeedSpec) -> FeedOutcome:
                    outcome = await pipeline.poll(feed, force=force)
                    progress.advance(task)
                    return outcome

                outcomes = list(await asyncio.gather(*(tracked(f) for f in feeds)))
        else:
            outcomes = await pipeline.poll_all(feeds, force=force)
        delivery = await pipeline.deliver_due(retry_now=True)
        prune(pipeline, config)
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
def schema() -> None:
    """Print the JSON Schema of config.yaml (for editors: see the first line of config.yaml)."""

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print problems as a JSON list.")
@click.pass_obj
def validate(obj: Context, as_json: bool) -> None:
    """Check the config and report every problem at once, each with file and line."""
    try:
        config = obj.config()
    except ConfigError as exc:
        if as_json:
            click.echo(json.dumps([asdict(p) for p in exc.problems], indent=2))
        else:
            for problem in exc.problems:
                say(str(problem))
        sys.exit(EXIT_CONFIG)
    # Warnings do not fail validation: the config runs as it is.
    for warning in config.warnings:
        say(str(replace(warning, message=f"warning: {warning.message}")))
    if as_json:
        click.echo("[]")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_obj
def feeds(obj: Context, as_json: bool) -> None:
    """Show every configured feed's health: last fetch, status, error, failures, next poll."""

    config = guarded(obj.config)
    with closing(guarded(lambda: store_for(config))) as store:
        rows = feed_health(config, store.feeds_status())
        shared = store.shared
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return

    table = Table(box=None, header_style="bold")
    columns = ["feed", "url", "last fetch", "status", "items", "failures", "next poll"]
    # Instances sharing a database: which one polled each feed last.
    columns += ["polled by"] if shared else []
    for column in [*columns, "error"]:
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = [
            row["name"],
            row["url"],
            _short_time(row["last_fetch"]),
            str(row["last_status"] or "-"),
            str(row["items"]),
            str(row["consecutive_failures"]),
            _short_time(row["next_poll"]) or "now",
        ]
        cells += [row["polled_by"] or ""] if shared else []
        table.add_row(
            *cells,
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
        if row.get("url") not in (None, feed.url):
            row = {}  # pointed elsewhere since: the old URL's status is not this one's
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
                "polled_by": row.get("polled_by"),
            }
        )
    return rows


def _short_time(value: str | None) -> str:
    return value.replace("T", " ").removesuffix("+00:00") if value else ""


def _compile_query(query: str) -> RuleBook:
    """A query typed at the command line, as a one-rule RuleBook; exit 2 when it does not parse."""

    try:
        return RuleBook([compile_rule(RuleSpec(name="query", query=query))])
    except QueryError as exc:
        fail(f"watcher: bad query: {exc}", EXIT_CONFIG)


def _highlighted(text: str, marks: tuple[tuple[int, int], ...]) -> Text:

    shown = Text(text)
    for start, end in marks:
        shown.stylize("bold reverse", start, end)
    return shown


def _stories_from_jsonl(path: str) -> list[Story]:
    """Stories from a JSON-lines file of ``{"id", "title", "summary", "content"}`` objects."""

    stories = []
    with click.open_file(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                fail(f"{path}:{number}: {exc}", EXIT_CONFIG)
            stories.append(
                Story(
                    feed=str(item.get("feed", "")),
                    guid=str(item.get("id", number)),
                    link=item.get("url") or item.get("link"),
                    title=str(item.get("title") or ""),
                    summary=str(item.get("summary") or ""),
                    content=str(item.get("content") or ""),
                )
            )
    return stories


@cli.command()
@click.argument("query", required=False)
@click.option("--title", default="", help="Story title to test.")
@click.option("--text", default="", help="Story text to test.")
@click.option("--file", "file_", type=click.Path(dir_okay=False), help="An HTML or text file.")
@click.option("--url", help="Fetch this page and test its main text.")
@click.option(
    "--jsonl", type=click.Path(dir_okay=False, allow_dash=True), help="Stories, one JSON a line."
)
@click.option(
    "--rules",
    "rules_config",
    type=click.Path(dir_okay=False),
    help="Test every rule of this config.",
)
def match(
    query: str | None,
    title: str,
    text: str,
    file_: str | None,
    url: str | None,
    jsonl: str | None,
    rules_config: str | None,
) -> None:
    """Try a rule before trusting it, like grep.

    \b
    watcher match 'Hama AND rebels' --title "Rebels shell Hama"
    watcher match 'Hama AND rebels' --file page.html
    watcher match 'Hama AND rebels' --jsonl stories.jsonl   (prints matching ids)
    watcher match --rules config.yaml --jsonl stories.jsonl (prints id<TAB>rule)

    Exits 0 on a match, 1 on none, 2 on a bad query.
    """

    if (query is None) == (rules_config is None):
        fail("watcher match: give a QUERY or --rules CONFIG (one of them)", EXIT_CONFIG)
    if rules_config is not None:
        config = guarded(lambda: load_config(Path(rules_config)))
        book = RuleBook(compile_rule(rule) for rule in config.rules)
    else:
        assert query is not None
        book = _compile_query(query)
    if jsonl is not None:
        hits = 0
        for story in _stories_from_jsonl(jsonl):
            for hit in book.match(prepare(story)):
                hits += 1
                click.echo(story.guid if query is not None else f"{story.guid}\t{hit.rule}")
        sys.exit(EXIT_OK if hits else EXIT_NO)
    content = text
    if file_ is not None:
        content = Path(file_).read_text(encoding="utf-8", errors="replace")
    elif url is not None:
        content = guarded(lambda: asyncio.run(_page_text(url)))
    if not (title or content):
        fail("watcher match: give --title/--text, --file, --url or --jsonl", EXIT_CONFIG)
    document = prepare(Story(feed="", guid=None, link=url, title=title, content=content))
    found = book.match(document)
    if not found:
        click.echo("no match")
        sys.exit(EXIT_NO)
    console = Console(highlight=False)
    for hit in found:
        shown = snippet(document, hit)
        console.print(f"match ({hit.rule}): {', '.join(hit.terms)}", markup=False)
        if shown.text:
            console.print(_highlighted(shown.text, shown.marks))


def _fetcher() -> Fetcher:
    """A Fetcher sending the daemon's User-Agent."""

    return Fetcher(FetchSettings(user_agent=user_agent()))


def _body(page: FetchedFeed, url: str) -> bytes:
    """The fetched page's body; a FeedError if there is none."""

    if page.error is not None or page.body is None:
        raise FeedError(f"cannot fetch {url}: {page.error}")
    return page.body


async def _page_text(url: str) -> str:
    """A web page's main text, as ``full_text`` would read it."""

    async with _fetcher() as fetcher:
        page = await fetcher.fetch(FetchRequest(feed="match", url=url))
    body = _body(page, url)
    article = extract_article(body, page.final_url)
    return article.text if article else body.decode("utf-8", errors="replace")


@cli.command()
@click.argument("rule_or_query")
@click.option("--since", default="30d", show_default=True, help="How far back to look.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def backtest(obj: Context, rule_or_query: str, since: str, as_json: bool) -> None:
    """Run a rule (by name) or a query over the stories already stored.

    Shows what it would have caught.  Exits 0 if anything matched, 1 if nothing did.
    """

    config = guarded(obj.config)
    window = _window("backtest", since)
    named = {rule.name: rule for rule in config.rules}
    if rule_or_query in named:
        book = RuleBook([compile_rule(named[rule_or_query])])
    else:
        book = _compile_query(rule_or_query)
    with closing(guarded(lambda: store_for(config))) as store:
        stories = store.stories_since(utc_now() - window)
    # One row per cluster (one event), as alerts would have been: the first matching
    # story, with the other outlets that carried it.
    rows: list[dict[str, Any]] = []
    by_cluster: dict[int, dict[str, Any]] = {}
    for story_id, seen_at, cluster_id, story in stories:
        if cluster_id in by_cluster:
            row = by_cluster[cluster_id]
            if story.feed != row["feed"] and story.feed not in row["also_reported_by"]:
                row["also_reported_by"].append(story.feed)
            continue
        document = prepare(story)
        hits = book.match(document)
        if not hits:
            continue
        row = {
            "id": story_id,
            "cluster": cluster_id,
            "seen": seen_at,
            "feed": story.feed,
            "title": story.title,
            "link": story.link,
            "snippet": snippet(document, hits[0]).text,
            "also_reported_by": [],
        }
        by_cluster[cluster_id] = row
        rows.append(row)
    rule = named.get(rule_or_query)
    if rule is not None and rule.min_sources:
        rows = _corroborated_rows(config, rule, rows, stories)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif rows:
        table = Table(box=None, header_style="bold")
        for column in ("seen", "feed", "title", "also reported by", "link"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                _short_time(row["seen"]),
                row["feed"],
                row["title"],
                ", ".join(row["also_reported_by"]),
                row["link"] or "",
            )
        Console().print(table)
        say(f"{len(rows)} events matched among {len(stories)} stories")
    sys.exit(EXIT_OK if rows else EXIT_NO)


def _corroborated_rows(
    config: Config,
    rule: RuleSpec,
    rows: list[dict[str, Any]],
    stories: list[tuple[int, str, int, Story]],
) -> list[dict[str, Any]]:
    """Only the events a rule with ``min_sources`` would have alerted on, as the daemon
    decides it (``core.decide.corroboration``), with the outlets that counted."""
    outlets = {feed.name: feed.outlet for feed in config.feeds}
    reports: dict[int, list[tuple[str, datetime]]] = {}
    for _, seen_at, cluster_id, story in stories:
        outlet = outlets.get(story.feed, story.feed)
        reports.setdefault(cluster_id, []).append((outlet, datetime.fromisoformat(seen_at)))
    assert rule.min_sources is not None
    kept = []
    for row in rows:
        counted = corroboration(
            reports.get(row["cluster"], ()), rule.min_sources, rule.within or config.cluster_window
        )
        if counted is not None:
            row["reported_by"] = [[outlet, at.isoformat()] for outlet, at in counted]
            kept.append(row)
    return kept


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.pass_context
def outbox(ctx: click.Context, as_json: bool) -> None:
    """List deliveries not yet sent: pending (waiting to retry or for a digest), failed,
    and orphaned (their channel is no longer in the config)."""
    if ctx.invoked_subcommand is not None:
        return
    config = guarded(ctx.obj.config)
    with closing(guarded(lambda: store_for(config))) as store:
        rows = store.outbox()
    deliverer = Deliverer(config.channels, config.env)
    gone = set(orphaned_channels((row["channel"] for row in rows), config.channels))
    for row in rows:
        row["destinations"] = deliverer.describe(row["channel"])
        row["digest"] = bool(row["digest"])
        if row["channel"] in gone and row["status"] == "pending":
            # Held at the next pass; shown as what it already is.
            row["status"], row["last_error"] = "orphaned", orphan_reason(row["channel"])
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        return
    table = Table(box=None, header_style="bold")
    for column in ("id", "channel", "status", "tries", "next try", "rule", "title", "last error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["channel"],
            row["status"] + (" (digest)" if row["digest"] else ""),
            str(row["attempts"]),
            _short_time(row["next_attempt"]),
            row["rule"] or "(notice)",
            row["title"] or "",
            row["last_error"] or "",
            style="red" if row["status"] in ("failed", "orphaned") else None,
        )
    Console().print(table)


def _known_channel(config: Config, channel: str) -> None:
    """Exit 2 unless ``channel`` is configured (or the built-in stdout)."""
    if channel != STDOUT_CHANNEL and channel not in config.channels:
        known = ", ".join([STDOUT_CHANNEL, *config.channels])
        fail(f"watcher: no channel named '{channel}' (known: {known})", EXIT_CONFIG)


@outbox.command("retry")
@click.option("--to", "to", metavar="CHANNEL", help="Re-route orphaned deliveries (or IDS).")
@click.argument("ids", nargs=-1, type=int)
@click.pass_obj
def outbox_retry(obj: Context, to: str | None, ids: tuple[int, ...]) -> None:
    """Send every pending and failed delivery now, without waiting for its backoff.

    With --to CHANNEL, deliveries held for a channel that left the config (or the
    deliveries IDS) go to CHANNEL instead; an alert that already goes there is not
    sent twice.  Exits 1 if a delivery failed.
    """
    config = guarded(obj.config)
    if to is not None:
        _known_channel(config, to)
    elif ids:
        fail("watcher outbox retry: IDS go with --to CHANNEL", EXIT_CONFIG)

    def requeue(store: Store) -> None:
        now = utc_now()
        if to is not None:
            moved, dropped = store.reroute(to, now, ids)
            also = f", {dropped} already there dropped" if dropped else ""
            say(f"watcher: {moved} deliveries re-routed to '{to}'{also}")
        store.retry_failed(now)
        store.hurry(now)

    async def retry() -> DeliveryReport:
        async with open_pipeline(config) as pipeline:
            requeue(pipeline.store)
            return await pipeline.deliver_due(retry_now=True)

    def retry_or_queue() -> DeliveryReport | None:
        try:
            return asyncio.run(retry())
        except DatabaseBusy as busy:
            # A daemon polls this database and delivers: queue the rows, it sends them.
            with closing(store_for(config)) as store:
                hold_orphans(store, config.channels, utc_now())
                requeue(store)
            say(f"watcher: {busy.holder} sends them within {DELIVERY_INTERVAL.seconds} s")
            return None

    report = guarded(retry_or_queue)
    if report is None:
        return
    for error in report.errors:
        say(f"watcher: {error}")
    if report.failed or report.given_up:
        sys.exit(EXIT_NO)


@outbox.command("drop")
@click.argument("ids", nargs=-1, type=int)
@click.pass_obj
def outbox_drop(obj: Context, ids: tuple[int, ...]) -> None:
    """Give up deliveries for good: those held for a channel no longer in the config,
    or the deliveries IDS (see `watcher outbox`)."""
    config = guarded(obj.config)
    with closing(guarded(lambda: store_for(config))) as store:
        hold_orphans(store, config.channels, utc_now())
        dropped = store.drop(ids)
    say(f"watcher: {dropped} deliveries dropped")


def _mute_target(config: Config, rule: str | None, cluster: int | None, command: str) -> Mute:
    """The rule (by name) or the cluster (by id) a mute command is about; exit 2 if neither."""
    if (rule is None) == (cluster is None):
        fail(f"watcher {command}: give a RULE or --cluster ID (one of them)", EXIT_CONFIG)
    if rule is not None:
        if rule not in {r.name for r in config.rules}:
            known = ", ".join(r.name for r in config.rules) or "none"
            fail(f"watcher {command}: no rule named '{rule}' (known: {known})", EXIT_CONFIG)
        return Mute("rule", rule)
    return Mute("cluster", str(cluster))


@cli.command()
@click.argument("rule", required=False)
@click.option("--cluster", type=int, metavar="ID", help="Mute one event (see `watcher clusters`).")
@click.option("--for", "period", metavar="DURATION", help="For this long (e.g. 2h, 7d).")
@click.pass_obj
def mute(obj: Context, rule: str | None, cluster: int | None, period: str | None) -> None:
    """Stop alerting for RULE, or about one event (--cluster ID), until unmuted or --for.

    A running daemon honours it from its next poll.  Muted alerts are recorded
    (`watcher alerts` shows them) and never sent later.
    """
    config = guarded(obj.config)
    target = _mute_target(config, rule, cluster, "mute")
    now = utc_now()
    until = now + _window("mute", period, "--for") if period else None
    with closing(guarded(lambda: store_for(config))) as store:
        guarded(lambda: store.mute(replace(target, until=until), now))


@cli.command()
@click.argument("rule", required=False)
@click.option("--cluster", type=int, metavar="ID", help="Unmute one event.")
@click.pass_obj
def unmute(obj: Context, rule: str | None, cluster: int | None) -> None:
    """Alert again for RULE (or the event --cluster ID), on new stories only.

    Exits 1 if it was not muted.
    """
    config = guarded(obj.config)
    if rule is not None and cluster is None:
        target = Mute("rule", rule)  # a rule since removed from the config may be unmuted
    else:
        target = _mute_target(config, rule, cluster, "unmute")
    with closing(guarded(lambda: store_for(config))) as store:
        lifted = guarded(lambda: store.unmute(target.kind, target.target))
    if not lifted:
        fail(f"watcher unmute: {target.kind} '{target.target}' was not muted", EXIT_NO)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def mutes(obj: Context, as_json: bool) -> None:
    """List the mutes in force: rules and events, and until when."""
    config = guarded(obj.config)
    with closing(guarded(lambda: store_for(config))) as store:
        active = guarded(lambda: store.mutes(utc_now()))
    rows = [
        {"kind": m.kind, "target": m.target, "until": m.until.isoformat() if m.until else None}
        for m in active
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        return
    table = Table(box=None, header_style="bold")
    for column in ("kind", "muted", "until"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["kind"], row["target"], _short_time(row["until"]) or "unmuted")
    Console().print(table)


@cli.command("notify-test")
@click.argument("channel")
@click.pass_obj
def notify_test(obj: Context, channel: str) -> None:
    """Send a test message to CHANNEL and report what the service answered.

    Exits 0 when it was accepted, 1 when not (the reason on stderr), 2 on an unknown channel.
    """

    config = guarded(obj.config)
    _known_channel(config, channel)
    deliverer = Deliverer(config.channels, config.env)
    notice = Notice(
        title="watcher: test message",
        body=f"This is a test from watcher {__version__}: channel '{channel}' works.",
    )
    error = asyncio.run(deliverer.send_notice(channel, notice))
    destinations = ", ".join(deliverer.describe(channel))
    if error is not None:
        fail(f"watcher: '{channel}' ({destinations}) did not accept the message: {error}", EXIT_NO)
    click.echo(f"sent to '{channel}' ({destinations})")


@cli.command("import-opml")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print what was added and skipped as JSON.")
@click.pass_obj
def import_opml_command(obj: Context, opml_file: str, as_json: bool) -> None:
    """Add the feeds of an OPML file to the config, keeping its comments and layout.

    Feeds already configured (same canonical URL) are skipped.  The result is
    validated like `watcher validate`; the file is not changed if it would not be valid.
    """

    path = obj.config_path
    before = path.read_bytes() if path.exists() else None
    report = guarded(lambda: import_opml(path, Path(opml_file)))
    try:
        load_config(path)
    except ConfigError as exc:
        if before is not None:
            path.write_bytes(before)
        fail(f"watcher: not imported, the result would not be valid:\n{exc}", EXIT_CONFIG)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "added": [{"name": n, "url": u} for n, u in report.added],
                    "skipped": [{"url": u, "reason": r} for u, r in report.skipped],
                },
                indent=2,
            )
        )
        return
    for name, url in report.added:
        click.echo(f"added   {name}  {url}")
    for url, reason in report.skipped:
        click.echo(f"skipped {url}  ({reason})")


@cli.command("export-opml")
@click.pass_obj
def export_opml(obj: Context) -> None:
    """Print the configured feeds as OPML 2.0."""

    config = guarded(obj.config)
    click.echo(write_opml([(feed.name, feed.url) for feed in config.feeds]), nl=False)


@cli.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def discover(url: str, as_json: bool) -> None:
    """Show what a site offers to follow: its feeds, and the sitemaps its robots.txt names."""
    found = guarded(lambda: asyncio.run(_discover(url)))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if found["is_feed"]:
        click.echo(f"{url} is a feed itself")
    for feed in found["feeds"]:
        click.echo(f"feed     {feed}")
    for sitemap in found["sitemaps"]:
        click.echo(f"sitemap  {sitemap}")
    if not (found["is_feed"] or found["feeds"] or found["sitemaps"]):
        say(f"watcher: {url} advertises no feed and no sitemap; try `type: html` on it")
        sys.exit(EXIT_NO)


async def _discover(url: str) -> dict[str, Any]:

    async with _fetcher() as fetcher:
        page, robots = await asyncio.gather(
            fetcher.fetch(FetchRequest("discover", url)),
            fetcher.fetch(FetchRequest("discover", urljoin(url, "/robots.txt"))),
        )
    body = _body(page, url)
    kind = classify(body, page.content_type)
    sitemaps: list[str] = []
    if robots.error is None and robots.body:
        sitemaps = robots_sitemaps(robots.body.decode("utf-8", "replace"), robots.final_url)
    return {
        "url": page.final_url,
        "is_feed": kind == "feed",
        "feeds": advertised_feeds(body, page.final_url) if kind == "html" else [],
        "sitemaps": sitemaps,
    }


@cli.command()
@click.option(
    "--since", default="24h", show_default=True, help="Clusters with stories this recent."
)
@click.option("--all", "show_all", is_flag=True, help="Also list stories that stand alone.")
@click.option(
    "--explain",
    nargs=2,
    metavar="LINK_A LINK_B",
    help="Why two stored stories are, or are not, one event: the score's parts.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def clusters(
    obj: Context, since: str, show_all: bool, explain: tuple[str, str] | None, as_json: bool
) -> None:
    """List recent clusters (one event reported by several outlets) with their members.

    Each member shows its similarity to the cluster's first story, so you can see
    why stories were, or were not, merged (threshold: `cluster_threshold`).
    """

    config = guarded(obj.config)
    if explain:
        _explain_pair(config, explain, as_json)
        return
    window = _window("clusters", since)
    with closing(guarded(lambda: store_for(config))) as store:
        members = store.cluster_members(utc_now() - window)

    def print_of(row: dict[str, Any]) -> Fingerprint:
        return stored_fingerprint(row["fingerprint"], row["title"], row["summary"])

    groups: dict[int, list[dict[str, Any]]] = {}
    for row in members:
        groups.setdefault(row["cluster_id"], []).append(row)
    listing = []
    for cluster_id, rows in groups.items():
        if len(rows) < 2 and not show_all:
            continue
        first = print_of(rows[0])
        listing.append(
            {
                "cluster": cluster_id,
                "title": rows[0]["title"],
                "members": [
                    {
                        "feed": row["feed"],
                        "title": row["title"],
                        "link": row["link"],
                        "seen": row["seen_at"],
                        "similarity": round(similarity(first, print_of(row)), 3),
                    }
                    for row in rows
                ],
            }
        )
    if as_json:
        click.echo(json.dumps(listing, indent=2, ensure_ascii=False))
        return
    console = Console(highlight=False)
    for cluster in listing:
        console.print(f"[bold]{len(cluster['members'])} stories:[/bold] ", end="")
        console.print(cluster["title"], markup=False)
        for member in cluster["members"]:
            console.print(
                f"  {member['similarity']:.2f}  {_short_time(member['seen'])}  "
                f"{member['feed']}: {member['title']}  {member['link'] or ''}",
                markup=False,
            )


def _explain_pair(config: Config, links: tuple[str, str], as_json: bool) -> None:
    """`watcher clusters --explain A B`: exit 0 if they are one event, 1 if not."""
    with closing(guarded(lambda: store_for(config))) as store:
        rows = [store.story_by_link(link) for link in links]
    for link, row in zip(links, rows, strict=True):
        if row is None:
            fail(f"watcher clusters: no stored story has the link {link}", EXIT_CONFIG)
    a, b = (r for r in rows if r is not None)
    prints = [
        stored_fingerprint(r["fingerprint"], r["title"], r["summary"], r["content"]) for r in (a, b)
    ]
    apart = datetime.fromisoformat(b["seen_at"]) - datetime.fromisoformat(a["seen_at"])
    parts = explain_pair(prints[0], prints[1], apart, config.cluster_threshold)
    report = {
        "a": {k: a[k] for k in ("title", "feed", "link", "seen_at", "cluster_id")},
        "b": {k: b[k] for k in ("title", "feed", "link", "seen_at", "cluster_id")},
        "hours_apart": round(abs(apart.total_seconds()) / 3600, 2),
        **asdict(parts),
        "same_event": parts.same_event,
        "same_cluster": a["cluster_id"] == b["cluster_id"],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        console = Console(highlight=False)
        for side in ("a", "b"):
            console.print(
                f"{side}: {report[side]['title']}  ({report[side]['feed']})", markup=False
            )
        console.print(
            f"headline {parts.headline:.2f}: {len(parts.shared_terms)} of "
            f"{parts.headline_terms} terms shared ({', '.join(parts.shared_terms) or '-'})"
            + (
                f", {', '.join(parts.explained_terms)} said by the other lead"
                if parts.explained_terms
                else ""
            ),
            markup=False,
        )
        console.print(
            f"lead {parts.lead:.2f}: {parts.shared_shingles} of {parts.shorter_lead} "
            "sampled shingles shared",
            markup=False,
        )
        if parts.number_penalty:
            console.print(f"numbers differ {parts.numbers}: score halved", markup=False)
        console.print(
            f"time apart {report['hours_apart']} h: x{parts.time_factor:.2f}; "
            f"score {parts.score:.3f} against threshold {parts.threshold} -> "
            f"{'one event' if parts.same_event else 'two events'}"
            f"{' (same cluster)' if report['same_cluster'] else ''}",
            markup=False,
        )
    sys.exit(EXIT_OK if parts.same_event else EXIT_NO)


@cli.command()
@click.option("--since", default="24h", show_default=True, help="Alerts made this recently.")
@click.option("--rule", metavar="NAME", help="One rule's alerts only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def alerts(obj: Context, since: str, rule: str | None, as_json: bool) -> None:
    """What was alerted, oldest first: when, by which rule, about which event (cluster),
    to which channels, and with what outcome there.

    Outcomes: sent, pending (retrying, or waiting for a digest), failed (given up),
    muted (never sent), orphaned (its channel left the config), dropped.
    """
    config = guarded(obj.config)
    window = _window("alerts", since)
    with closing(guarded(lambda: store_for(config))) as store:
        rows = guarded(lambda: store.alert_log(utc_now() - window, rule))
    configured = [r.name for r in config.rules]
    if rule is not None and not rows and rule not in configured:
        known = ", ".join(configured) or "none"
        fail(f"watcher alerts: no rule named '{rule}' (known: {known})", EXIT_CONFIG)
    listing = [_alert_entry(row) for row in rows]
    if as_json:
        click.echo(json.dumps(listing, indent=2, ensure_ascii=False))
        return
    if not listing:
        return
    table = Table(box=None, header_style="bold")
    table.add_column("when", no_wrap=True)
    for column in ("rule", "kind"):
        table.add_column(column, overflow="fold")
    # Cluster ids are long: shown whole, for `watcher mute --cluster ID`.
    table.add_column(
        "cluster", no_wrap=True, min_width=max(len(str(e["cluster"])) for e in listing)
    )
    for column in ("title", "channels"):
        table.add_column(column, overflow="fold", ratio=1)
    for entry in listing:
        table.add_row(
            _short_time(entry["at"])[:16],
            Text(entry["rule"]),
            entry["kind"],
            str(entry["cluster"]),
            Text(entry["title"] or ""),  # as text: a title's [brackets] are not markup
            Text(", ".join(_outcome(d) for d in entry["deliveries"]) or "(no channel)"),
            style=None if entry["told"] else "yellow",
        )
    Console().print(table)


def _alert_entry(row: dict[str, Any]) -> dict[str, Any]:
    """One alert of ``watcher alerts --json``."""
    return {
        "id": row["id"],
        "at": row["created_at"],
        "kind": row["kind"],
        "rule": row["rule"],
        "cluster": row["cluster_id"],
        "story": row["story_id"],
        "feed": row["feed"],
        "title": row["title"],
        "link": row["link"],
        "published": row["published"],
        "outlets": row["outlets"],
        "snippet": row["snippet"],
        "told": any(d["status"] == "sent" for d in row["deliveries"]),
        "deliveries": row["deliveries"],
    }


def _outcome(delivery: dict[str, Any]) -> str:
    status = delivery["status"]
    if status == "sent":
        text = f"sent {_short_time(delivery['sent_at'])[11:16]}".rstrip()
    elif status == "pending" and delivery["digest"]:
        text = f"pending (digest {_short_time(delivery['next_attempt'])[11:16]})"
    elif status in ("pending", "failed") and delivery["attempts"]:
        tries = delivery["attempts"]
        text = f"{status} ({tries} {'try' if tries == 1 else 'tries'})"
    else:
        text = status
    return f"{delivery['channel']}: {text}"


@cli.command()
@click.option(
    "--from", "source", required=True, metavar="sqlite:PATH", help="The SQLite database to copy."
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows copied per table as JSON.")
@click.pass_obj
def migrate(obj: Context, source: str, as_json: bool) -> None:
    """Copy a SQLite database into the config's (empty) PostgreSQL database: feeds, story
    keys, clusters, alerts and the outbox, ids kept, so that nothing alerts again.

    Stop the watcher that uses the SQLite file first (it is locked while copied).
    Exit 0 copied, 2 bad usage or config, 3 a database cannot be used (or the
    target is not empty).
    """
    # Imported here: psycopg costs every other command its load time.
    from watcher.store.copy import copy_database, count_rows
    from watcher.store.postgres import PostgresStore
    from watcher.store.sqlite import SQLiteStore

    config = guarded(obj.config)
    if not source.startswith("sqlite:"):
        fail(f"watcher migrate: --from takes sqlite:PATH, not '{source}'", EXIT_CONFIG)
    if isinstance(config.database, Path):
        fail(
            f"watcher migrate: {config.path}: database: is a SQLite file; set it to "
            "postgresql://user@host/db to copy into PostgreSQL",
            EXIT_CONFIG,
        )
    path = Path(source.removeprefix("sqlite:")).expanduser()
    if not path.is_file():
        fail(f"watcher migrate: no database file {path}", EXIT_STORE)
    lock = WriterLock(path, "migrate")
    guarded(lock.acquire)
    try:
        with (
            closing(guarded(lambda: SQLiteStore(path))) as old,
            closing(guarded(lambda: store_for(config))) as new,
        ):
            assert isinstance(new, PostgresStore)
            if sys.stderr.isatty() and not as_json:
                with Progress(console=err_console, transient=True) as progress:
                    task = progress.add_task("copying", total=count_rows(old))
                    copied = guarded(
                        lambda: copy_database(
                            old, new, lambda _table, rows: progress.advance(task, rows)
                        )
                    )
            else:
                copied = guarded(lambda: copy_database(old, new))
    finally:
        lock.release()
    if as_json:
        click.echo(json.dumps(copied, indent=2))


def main() -> None:
    cli(prog_name="watcher")


if __name__ == "__main__":
    main()
