"""Config stage: ``config.yaml`` in, a validated ``Config`` out, or every problem at once.

ruamel.yaml keeps each node's line, so pydantic's errors (which name a path
such as ``rules.2.notify``) are turned back into ``config.yaml:14`` for the user.
"""

from __future__ import annotations

import os
import re
import socket
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.reader import ReaderError

from watcher.core.dedupe import canonical_url, default_outlet
from watcher.core.errors import ConfigError, Problem, QueryError
from watcher.core.listing import selector_problem
from watcher.core.models import ChannelSpec, Examples, FeedSpec, RuleSpec
from watcher.core.rules import MAX_NESTING, check_examples, compile_rule
from watcher.core.schedule import check_digest, parse_quiet
from watcher.core.units import format_duration, parse_duration, parse_size
from watcher.store.sql_base import redacted

STDOUT_CHANNEL = "stdout"
ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
FEED_URL = re.compile(r"^https?://\S+$")
"""What a feed's ``url`` must look like (shared with ``import-opml``)."""


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str | int | float):
        raise ValueError("expected a duration such as 90s, 10m, 2h or 2d")
    return parse_duration(value)


def _size(value: object) -> int:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError("expected a size such as 10MB")
    return parse_size(value)


# What editors see in the JSON Schema is what users type, not the parsed value.
_DURATION_TEXT = Annotated[str, Field(pattern=r"^\s*(\d+(\.\d+)?\s*[smhdw]\s*)+$|^\d+$")]
Duration = Annotated[
    timedelta, BeforeValidator(_duration, json_schema_input_type=_DURATION_TEXT | int)
]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be greater than 0 seconds")
    return value


# A timeout of zero would fail every fetch at once.
Timeout = Annotated[Duration, AfterValidator(_positive)]
Size = Annotated[int, BeforeValidator(_size, json_schema_input_type=str | int), Field(ge=1)]
OneOrMany = Annotated[
    list[str], BeforeValidator(lambda v: _one_or_many(v), json_schema_input_type=str | list[str])
]
Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedFetchModel(_Strict):
    """Fetch limits a single feed may override."""

    connect_timeout: Timeout | None = Field(None, description="Time to open a connection.")
    read_timeout: Timeout | None = Field(None, description="Longest wait for the next bytes.")
    deadline: Timeout | None = Field(None, description="Longest a whole fetch may take.")
    max_body: Size | None = Field(None, description="Largest body accepted (e.g. 10MB).")
    max_decoded: Size | None = Field(None, description="Largest body after decompression.")
    max_redirects: int | None = Field(None, ge=0, le=20, description="Redirects followed.")
    allow_private: bool | None = Field(
        None,
        description="Let links, redirects and discovered feeds reach loopback, private and"
        " other non-public addresses (default: only the feed's own network).",
    )


class FetchModel(FeedFetchModel):
    """Fetch limits for every feed."""

    concurrency: int = Field(64, ge=1, le=1000, description="Feeds fetched at once, in all.")
    per_host: int = Field(2, ge=1, le=100, description="Feeds fetched at once from one host.")
    cache_max_age_cap: Duration = Field(
        timedelta(hours=1),
        description="Honour a server's Cache-Control max-age up to this long (0 ignores it).",
    )
    backoff_cap: Duration = Field(
        timedelta(hours=6), description="Longest wait between polls of a failing feed."
    )


class FeedModel(_Strict):
    """One feed to poll."""

    name: Name = Field(description="Unique name, used in alerts, logs and status.")
    url: Annotated[str, Field(pattern=FEED_URL.pattern, description="The feed's http(s) URL.")]
    interval: Duration | None = Field(None, description="Poll interval; defaults to `interval`.")
    max_age: Duration | None = Field(
        None, description="First-poll age limit; defaults to `max_age`."
    )
    fetch: FeedFetchModel | None = Field(None, description="This feed's own fetch limits.")
    type: Literal["auto", "feed", "sitemap", "html"] = Field(
        "auto",
        description="auto (detected: RSS, Atom, RDF, JSON Feed, sitemap, or a page advertising"
        " a feed), or html: a listing page whose article links are the stories.",
    )
    links: str | None = Field(
        None, description="With type: html, a CSS selector for the article links."
    )
    full_text: bool = Field(
        False, description="Fetch each new story's page and match on its main text too."
    )
    outlet: str | None = Field(
        None,
        description="Who publishes it (default: the URL's host without www.): feeds of one"
        " outlet count once for `min_sources`.",
    )


class ExamplesModel(_Strict):
    match: list[str] = Field(default_factory=list, description="Texts the rule must match.")
    no_match: list[str] = Field(default_factory=list, description="Texts it must not match.")


def _digest(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expected hourly, daily or a cron expression such as '0 8 * * *'")
    check_digest(value)
    return value.strip()


Digest = Annotated[str | None, BeforeValidator(_digest)]


def _quiet(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("quiet hours are a time range such as '22:00-07:00'")
    parse_quiet(value)
    return value.strip()


Quiet = Annotated[str | None, BeforeValidator(_quiet)]


class ChannelModel(_Strict):
    """A channel in its long form."""

    url: str | None = Field(None, description="One Apprise URL.")
    urls: list[str] = Field(default_factory=list, description="Several Apprise URLs.")
    apprise_config: str | None = Field(
        None, description="An Apprise config file (YAML or TEXT), relative to this file."
    )
    tag: OneOrMany = Field(
        default_factory=list, description="Only the Apprise config's URLs with these tags."
    )
    digest: Digest = Field(
        None, description="Gather alerts and send them as one message: hourly, daily or cron."
    )
    rate_limit: int | None = Field(
        None, ge=1, description="At most this many messages a minute; the rest fold into a digest."
    )
    quiet: Quiet = Field(
        None,
        description="Quiet hours, e.g. '22:00-07:00' (in `timezone`): alerts wait and go as one"
        " digest when they end; rules with `urgent: true` go through.",
    )


def _channel(value: object) -> object:
    return (
        {"urls": [value]}
        if isinstance(value, str)
        else ({"urls": value} if isinstance(value, list) else value)
    )


class RuleModel(_Strict):
    """One watch rule."""

    name: Name = Field(description="Unique rule name, shown in alerts.")
    query: str | None = Field(None, description="A query in the rule language (docs/rules.md).")
    all: list[str] = Field(default_factory=list, description="Queries that must all match.")
    any: list[str] = Field(default_factory=list, description="Queries of which one must match.")
    none: list[str] = Field(default_factory=list, description="Queries that must not match.")
    feeds: list[str] | None = Field(None, description="Limit the rule to these feed names.")
    notify: OneOrMany = Field(
        default_factory=lambda: [STDOUT_CHANNEL], description="Channel names to alert."
    )
    examples: ExamplesModel | None = None
    digest: Digest = Field(
        None, description="Send this rule's alerts as one message: hourly, daily or cron."
    )
    updates: bool = Field(
        False,
        description="Also send a short note when another outlet reports an alerted story,"
        " or the story is edited in place.",
    )
    urgent: bool = Field(False, description="Alert through channels' quiet hours.")
    min_sources: int | None = Field(
        None,
        ge=2,
        description="Alert only when this many distinct outlets report the event (corroborated).",
    )
    within: Duration | None = Field(
        None,
        description="With min_sources: the outlets must report within this long of the first"
        " report (default: `cluster_window`).",
    )


class ConfigModel(_Strict):
    """The whole of config.yaml (version 1)."""

    version: int = Field(1, ge=1, le=1, description="Config format version.")
    database: str = Field(
        "watcher.db",
        description="A SQLite file (relative to this file's folder), or postgresql://user@host/db"
        " for several instances sharing one PostgreSQL database (password as ${VAR}).",
    )
    instance: str | None = Field(
        None,
        description="This instance's name in logs, metrics and `watcher feeds` (default:"
        " $WATCHER_INSTANCE, else the host name and process id).",
    )
    lease: Duration = Field(
        timedelta(minutes=2),
        description="PostgreSQL: how long a feed or delivery an instance took stays its own"
        " if the instance dies; another takes it over after that.",
    )
    interval: Duration = Field(timedelta(minutes=10), description="Default poll interval.")
    max_age: Duration = Field(
        timedelta(days=2), description="A new feed alerts only on stories this recent."
    )
    channels: dict[
        Name,
        Annotated[
            ChannelModel,
            BeforeValidator(_channel, json_schema_input_type=str | list[str] | ChannelModel),
        ],
    ] = Field(
        default_factory=dict,
        description="Channel name -> an Apprise URL, a list of them, or the long form.",
    )
    timezone: str | None = Field(
        None, description="Time zone of digest times (default: the system's), e.g. Europe/Athens."
    )
    templates: dict[str, str] = Field(
        default_factory=dict,
        description="Jinja2 templates replacing the defaults, by name (alert.html, ...): paths.",
    )
    give_up_after: Duration = Field(
        timedelta(days=3), description="Stop retrying a delivery this long after the alert."
    )
    retention: Duration = Field(
        timedelta(days=90),
        description="Stories older than this are pruned, except those that alerted.",
    )
    http: str | None = Field(
        None,
        description="Serve /metrics, /health and the alert feeds (/alerts.atom) here,"
        " e.g. 127.0.0.1:9108.",
    )
    http_token: str | None = Field(
        None,
        description="Token the alert feeds want (?token= or a bearer header), e.g."
        " ${WATCHER_HTTP_TOKEN}; /metrics and /health stay open.",
    )
    metrics: str | None = Field(None, description="The old name of `http`.")
    cluster: bool = Field(
        True, description="Treat the same story from several outlets as one (one alert)."
    )
    workers: int | None = Field(
        None,
        ge=0,
        le=64,
        description="Worker processes for parsing and matching (0: none; default: one per"
        " core, at most 3, when there are 20 feeds or more).",
    )
    cluster_window: Duration = Field(
        timedelta(hours=48), description="How far back a new story is compared for clustering."
    )
    cluster_threshold: float = Field(
        0.8, gt=0, le=1, description="Similarity (0-1] above which two stories are one event."
    )
    fetch: FetchModel = Field(default_factory=lambda: FetchModel(), description="Fetch limits.")
    feed_alert_after: Duration = Field(
        timedelta(hours=24),
        description="Notify `health_notify` once when a feed has failed this long.",
    )
    health_notify: OneOrMany = Field(
        default_factory=lambda: [STDOUT_CHANNEL],
        description="Channels told when a feed breaks for long, and when it recovers.",
    )
    feeds: list[FeedModel] = Field(default_factory=list)
    rules: list[RuleModel] = Field(default_factory=list)


@dataclass(frozen=True)
class Config:
    """A validated configuration, ready for the pipeline.

    Built only by ``parse_config`` from a validated ``ConfigModel``, so it has no
    defaults of its own: each default is declared once, on ``ConfigModel``.
    """

    path: Path
    # A SQLite file, or a postgresql:// URL (its ${VAR}s filled in: see ``database_shown``).
    database: Path | str = field(repr=False)
    interval: timedelta
    max_age: timedelta
    channels: Mapping[str, ChannelSpec]
    feeds: tuple[FeedSpec, ...]
    rules: tuple[RuleSpec, ...]
    fetch: FetchModel
    feed_alert_after: timedelta
    health_notify: tuple[str, ...]
    templates: Mapping[str, str]  # name -> Jinja2 source
    timezone: str | None
    give_up_after: timedelta
    retention: timedelta
    http: tuple[str, int] | None  # the listener's address (`http`, or its old name `metrics`)
    http_token: str | None = field(repr=False)
    cluster: bool
    workers: int | None
    cluster_window: timedelta
    cluster_threshold: float
    warnings: tuple[Problem, ...]
    env: Mapping[str, str] = field(repr=False)
    instance: str
    lease: timedelta

    @property
    def database_shown(self) -> str:
        """The database for logs and messages: a URL's password is never shown."""
        if isinstance(self.database, Path):
            return str(self.database)
        return redacted(self.database)

    @property
    def metrics(self) -> tuple[str, int] | None:
        """The old name of ``http``."""
        return self.http


MIN_TOKEN = 16


def _http(
    model: ConfigModel, data: Any, shown: str, env: dict[str, str], problems: list[Problem]
) -> tuple[tuple[str, int] | None, str | None, list[Problem]]:
    """The listener's address (``http``, or ``metrics``, its old name) and the feeds' token."""
    from watcher.metrics import parse_listen

    warnings: list[Problem] = []
    key = "http" if model.http is not None or model.metrics is None else "metrics"
    if model.http is not None and model.metrics is not None:
        line = _line_of(data, ("metrics",))
        problems.append(Problem(shown, line, "metrics: the old name of http; keep one of them"))
    address = None
    value = model.http if key == "http" else model.metrics
    if value:
        try:
            address = parse_listen(value)
        except ValueError as exc:
            problems.append(Problem(shown, _line_of(data, (key,)), f"{key}: {exc}"))
    token = None
    if model.http_token is not None:
        line = _line_of(data, ("http_token",))
        missing = [
            v for v in ENV_VAR.findall(model.http_token) if v not in env and not _credential(v, env)
        ]
        for var in missing:
            problems.append(
                Problem(shown, line, f"http_token: environment variable ${{{var}}} is not set")
            )
        token = expand_env(model.http_token, env)
        if not missing and not token.strip():
            problems.append(Problem(shown, line, "http_token: is empty"))
        elif not missing and len(token) < MIN_TOKEN:
            warnings.append(
                Problem(shown, line, f"http_token: under {MIN_TOKEN} characters, easy to guess")
            )
        if not ENV_VAR.search(model.http_token):
            warnings.append(
                Problem(
                    shown,
                    line,
                    "http_token: a secret written in the file; write ${VAR} and set VAR"
                    " in the environment",
                )
            )
        if address is None and value is None:
            warnings.append(Problem(shown, line, "http_token: no `http` listener to use it"))
    return address, token, warnings


def locate_config(option: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """``--config``, else ``$WATCHER_CONFIG``, else ``./config.yaml``."""
    if option:
        return Path(option)
    if env.get("WATCHER_CONFIG"):
        return Path(env["WATCHER_CONFIG"])
    return Path("config.yaml")


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate; raises ``ConfigError`` listing every problem found."""
    env = dict(os.environ if env is None else env)
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [Problem(shown, None, "no such file (use --config PATH or set WATCHER_CONFIG)")]
        ) from None
    except OSError as exc:
        raise ConfigError([Problem(shown, None, f"cannot read: {exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise ConfigError(
            [
                Problem(
                    shown,
                    line,
                    f"not UTF-8: byte 0x{byte} cannot be read (save the file as UTF-8)",
                    column,
                )
            ]
        ) from None
    return parse_config(text, path, env)


def parse_config(text: str, path: Path, env: Mapping[str, str]) -> Config:
    """Validate config text; ``path`` names the file and anchors relative paths in it."""
    env = dict(env)
    shown = str(path)
    yaml = YAML(typ="rt")
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, shown)]) from None
    except ReaderError as exc:  # a character YAML refuses (a NUL byte, a control code)
        at = _line_column(text, exc.position)
        raise ConfigError(
            [Problem(shown, at[0], f"YAML: {exc.reason} (character {exc.character!r})", at[1])]
        ) from None
    except RecursionError:
        deep = _too_deep(text)
        raise ConfigError(
            [Problem(shown, deep[0], f"nested more than {MAX_NESTING} levels deep", deep[1])]
        ) from None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, dict):
        raise ConfigError([Problem(shown, 1, "the file must be a mapping of settings")])

    problems: list[Problem] = []
    parts = _validate_parts(data, shown, problems)
    model = parts.top
    channels = _channels(model, data, path, env, problems)
    templates = _templates(model, data, path, problems)
    for channel in model.health_notify:
        if channel != STDOUT_CHANNEL and channel not in channels:
            line = _line_of(data, ("health_notify",))
            problems.append(Problem(shown, line, f"health_notify: unknown channel '{channel}'"))
    feeds = _feeds(parts, data, shown, problems)
    rules = _rules(parts, data, shown, channels, {f.name for f in feeds}, problems)
    http, http_token, http_warnings = _http(model, data, shown, env, problems)
    warnings = _interval_checks(model, feeds, data, shown, problems) + _duplicate_urls(feeds, shown)
    warnings += http_warnings
    if model.timezone:
        try:
            zoneinfo.ZoneInfo(model.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            line = _line_of(data, ("timezone",))
            problems.append(Problem(shown, line, f"timezone: unknown time zone '{model.timezone}'"))
    database = _database(model, data, shown, env, path, problems, warnings)
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise ConfigError(problems)
    return Config(
        path=path,
        database=database,
        interval=model.interval,
        max_age=model.max_age,
        channels=channels,
        feeds=feeds,
        rules=rules,
        fetch=model.fetch,
        feed_alert_after=model.feed_alert_after,
        health_notify=tuple(dict.fromkeys(model.health_notify)),
        templates=templates,
        timezone=model.timezone,
        give_up_after=model.give_up_after,
        retention=model.retention,
        http=http,
        http_token=http_token,
        cluster=model.cluster,
        workers=model.workers,
        cluster_window=model.cluster_window,
        cluster_threshold=model.cluster_threshold,
        warnings=tuple(warnings),
        env=env,
        instance=model.instance or env.get("WATCHER_INSTANCE") or default_instance(),
        lease=model.lease,
    )


# A URL's scheme, as RFC 3986 spells it: what tells a database URL from a file path.
URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
POSTGRES_SCHEMES = ("postgresql", "postgres")


def default_instance() -> str:
    """The host name and process id: unique among instances, readable in logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _database(
    model: ConfigModel,
    data: Any,
    shown: str,
    env: Mapping[str, str],
    path: Path,
    problems: list[Problem],
    warnings: list[Problem],
) -> Path | str:
    """A path is a SQLite file (``sqlite:PATH`` too); ``postgresql://`` a PostgreSQL
    database; any other URL a mistake, not a file of that odd name."""
    value = model.database
    line = _line_of(data, ("database",))
    scheme = URL_SCHEME.match(value)
    if scheme is None:
        file = Path(os.path.expanduser(value.removeprefix("sqlite:")))
        return file if file.is_absolute() else path.parent / file
    if scheme.group(1).lower() not in POSTGRES_SCHEMES:
        problems.append(
            Problem(
                shown,
                line,
                f"database: '{scheme.group(1)}://' is not a database watcher can use: write"
                " a file path (SQLite) or postgresql://user@host/db",
            )
        )
        return value
    for var in ENV_VAR.findall(value):
        if var not in env:
            problems.append(
                Problem(shown, line, f"database: environment variable ${{{var}}} is not set")
            )
    url = expand_env(value, env)
    parts = urlsplit(value)
    if parts.password and not ENV_VAR.search(parts.password):
        warnings.append(
            Problem(
                shown,
                line,
                "database: a password written in the file; write ${VAR} and set VAR in the"
                " environment",
            )
        )
    if not (parts.hostname or parts.path.strip("/")):
        problems.append(
            Problem(shown, line, "database: a postgresql:// URL needs a host or a database")
        )
    return url


def database_secrets(config: Config) -> list[str]:
    """The database URL's password, if any: never to be shown anywhere."""
    if isinstance(config.database, Path):
        return []
    password = urlsplit(config.database).password
    return [password, unquote(password)] if password else []


@dataclass
class _Parts:
    """The validated top level, and each valid feed and rule with its index in the file."""

    top: ConfigModel
    feeds: list[tuple[int, FeedModel]] = field(default_factory=list)
    rules: list[tuple[int, RuleModel]] = field(default_factory=list)


def _validate_parts(data: Any, shown: str, problems: list[Problem]) -> _Parts:
    """Validate the top level, then each feed and rule alone, so one bad item hides no other."""
    top = {k: v for k, v in data.items() if k not in ("feeds", "rules")}
    try:
        model = ConfigModel.model_validate(top)
    except ValidationError as exc:
        problems.extend(
            Problem(shown, _line_of(data, e["loc"]), _describe(e)) for e in exc.errors()
        )
        model = ConfigModel.model_validate({})
    parts = _Parts(model)
    item_model: type[FeedModel] | type[RuleModel]
    for key, item_model in (("feeds", FeedModel), ("rules", RuleModel)):
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(Problem(shown, _line_of(data, (key,)), f"{key}: expected a list"))
            continue
        for index, item in enumerate(items):
            try:
                getattr(parts, key).append((index, item_model.model_validate(item)))
            except ValidationError as exc:
                for err in exc.errors():
                    loc = (key, index, *err["loc"])
                    problems.append(
                        Problem(shown, _line_of(data, loc), _describe(err | {"loc": loc}))
                    )
    return parts


def _channels(
    model: ConfigModel,
    data: Any,
    path: Path,
    env: dict[str, str],
    problems: list[Problem],
) -> dict[str, ChannelSpec]:
    shown = str(path)
    channels: dict[str, ChannelSpec] = {}
    for name, channel in model.channels.items():
        line = _line_of(data, ("channels", name))
        if name == STDOUT_CHANNEL:
            problems.append(
                Problem(shown, line, f"channel '{name}' is built in; pick another name")
            )
            continue
        urls = ([channel.url] if channel.url else []) + channel.urls
        apprise_config = None
        if channel.apprise_config:
            apprise_config = path.parent / os.path.expanduser(channel.apprise_config)
            if not apprise_config.is_file():
                problems.append(
                    Problem(shown, line, f"channel '{name}': no such file {apprise_config}")
                )
        if not urls and apprise_config is None:
            problems.append(Problem(shown, line, f"channel '{name}' has no URL"))
        for url in urls:
            for var in ENV_VAR.findall(url):
                if var not in env and not _credential(var, env):
                    problems.append(
                        Problem(
                            shown,
                            line,
                            f"channel '{name}': environment variable ${{{var}}} is not set",
                        )
                    )
        channels[name] = ChannelSpec(
            name=name,
            urls=tuple(urls),
            apprise_config=str(apprise_config) if apprise_config else None,
            tags=tuple(channel.tag),
            digest=channel.digest,
            rate_limit=channel.rate_limit,
            quiet=channel.quiet,
            line=line,
        )
    return channels


MIN_INTERVAL = timedelta(seconds=2)
POLITE_INTERVAL = timedelta(minutes=1)


def _interval_checks(
    model: ConfigModel, feeds: tuple[FeedSpec, ...], data: Any, shown: str, problems: list[Problem]
) -> list[Problem]:
    """Intervals under 2 s are errors; under a minute, warnings (fine for tests and demos)."""
    warnings = []
    places = [("interval", model.interval, _line_of(data, ("interval",)))] + [
        (f"feed '{feed.name}': interval", feed.interval, feed.line)
        for feed in feeds
        if feed.interval != model.interval
    ]
    for where, interval, line in places:
        if interval < MIN_INTERVAL:
            problems.append(Problem(shown, line, f"{where}: at least 2s"))
        elif interval < POLITE_INTERVAL:
            warnings.append(
                Problem(shown, line, f"{where}: under a minute; servers may block such polling")
            )
    return warnings


def _line_column(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _too_deep(text: str) -> tuple[int | None, int | None]:
    """Where flow brackets first nest deeper than ``MAX_NESTING`` (None if they never do)."""
    depth = 0
    for position, char in enumerate(text):
        if char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return _line_column(text, position)
        elif char in "]}":
            depth = max(0, depth - 1)
    return None, None


def _duplicate_urls(feeds: tuple[FeedSpec, ...], shown: str) -> list[Problem]:
    """Two feeds on one URL (canonical form) would fetch it twice: a warning, not an error
    (a feed may be kept under two names on purpose while rules move between them)."""
    first: dict[str, FeedSpec] = {}
    warnings = []
    for feed in feeds:
        url = canonical_url(feed.url)
        earlier = first.setdefault(url, feed)
        if earlier is not feed:
            warnings.append(
                Problem(
                    shown,
                    feed.line,
                    f"feed '{feed.name}': same URL as feed '{earlier.name}' (line "
                    f"{earlier.line}); it is fetched twice",
                )
            )
    return warnings


def _templates(
    model: ConfigModel, data: Any, path: Path, problems: list[Problem]
) -> dict[str, str]:
    """Read the template files the config names, and check they compile and render."""
    from watcher.core.errors import WatcherError
    from watcher.core.render import Renderer

    sources: dict[str, str] = {}
    for name, file in model.templates.items():
        line = _line_of(data, ("templates", name))
        template_path = path.parent / os.path.expanduser(file)
        try:
            sources[name] = template_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), line, f"templates.{name}: cannot read: {exc}"))
    try:
        Renderer(sources)
    except WatcherError as exc:
        problems.append(Problem(str(path), _line_of(data, ("templates",)), f"templates: {exc}"))
    return sources


def _credential(name: str, env: dict[str, str]) -> bool:
    """Fill ``env[name]`` from ``$CREDENTIALS_DIRECTORY/name`` (systemd's LoadCredential)."""
    folder = env.get("CREDENTIALS_DIRECTORY")
    if not folder:
        return False
    try:
        value = (Path(folder) / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    env[name] = value.removesuffix("\n")
    return True


def _duplicate(
    kind: str,
    name: str,
    line: int | None,
    seen: dict[str, int | None],
    shown: str,
    problems: list[Problem],
) -> bool:
    """Whether ``name`` was already used (reporting it if so); else remember where it is."""
    if name in seen:
        problems.append(
            Problem(shown, line, f"{kind} name '{name}' is used twice (first at line {seen[name]})")
        )
        return True
    seen[name] = line
    return False


def _feeds(parts: _Parts, data: Any, shown: str, problems: list[Problem]) -> tuple[FeedSpec, ...]:
    model = parts.top
    feeds: list[FeedSpec] = []
    seen: dict[str, int | None] = {}
    for index, feed in parts.feeds:
        line = _line_of(data, ("feeds", index))
        if _duplicate("feed", feed.name, line, seen, shown, problems):
            continue
        feeds.append(
            FeedSpec(
                name=feed.name,
                url=feed.url,
                interval=feed.interval or model.interval,
                max_age=feed.max_age if feed.max_age is not None else model.max_age,
                fetch=tuple(
                    (key, value)
                    for key, value in (feed.fetch.model_dump() if feed.fetch else {}).items()
                    if value is not None
                ),
                kind=feed.type,
                links=feed.links,
                full_text=feed.full_text,
                outlet=feed.outlet or default_outlet(feed.url),
                line=line,
            )
        )
        if feed.links is not None:
            problem = selector_problem(feed.links)
            if feed.type != "html":
                problem = "links: only for type: html"
            if problem:
                problems.append(Problem(shown, line, f"feed '{feed.name}': {problem}"))
    return tuple(feeds)


def _rules(
    parts: _Parts,
    data: Any,
    shown: str,
    channels: Mapping[str, ChannelSpec],
    feed_names: set[str],
    problems: list[Problem],
) -> tuple[RuleSpec, ...]:
    rules: list[RuleSpec] = []
    seen: dict[str, int | None] = {}
    for index, rule in parts.rules:
        line = _line_of(data, ("rules", index))
        where = f"rule '{rule.name}'"
        if _duplicate("rule", rule.name, line, seen, shown, problems):
            continue
        for channel in rule.notify:
            if channel != STDOUT_CHANNEL and channel not in channels:
                known = ", ".join([STDOUT_CHANNEL, *channels]) or STDOUT_CHANNEL
                problems.append(
                    Problem(
                        shown,
                        _line_of(data, ("rules", index, "notify")) or line,
                        f"{where}: unknown channel '{channel}' (known: {known})",
                    )
                )
        for feed in rule.feeds or ():
            if feed not in feed_names:
                problems.append(
                    Problem(
                        shown,
                        _line_of(data, ("rules", index, "feeds")) or line,
                        f"{where}: unknown feed '{feed}'",
                    )
                )
        if not (rule.query or rule.all or rule.any):
            problems.append(Problem(shown, line, f"{where}: needs a query (or all/any lists)"))
            continue
        examples = rule.examples or ExamplesModel()
        spec = RuleSpec(
            name=rule.name,
            query=rule.query,
            all=tuple(rule.all),
            any=tuple(rule.any),
            none=tuple(rule.none),
            feeds=tuple(rule.feeds) if rule.feeds is not None else None,
            notify=tuple(dict.fromkeys(rule.notify)),
            examples=Examples(match=tuple(examples.match), no_match=tuple(examples.no_match)),
            digest=rule.digest,
            updates=rule.updates,
            urgent=rule.urgent,
            min_sources=rule.min_sources,
            within=rule.within,
            line=line,
        )
        try:
            compiled = compile_rule(spec)
        except QueryError as exc:
            query_line = _line_of(data, ("rules", index, "query")) or line
            problems.append(Problem(shown, query_line, f"{where}: {exc}"))
            continue
        example_line = _line_of(data, ("rules", index, "examples")) or line
        for failure in check_examples(compiled):
            problems.append(Problem(shown, example_line, f"{where}: {failure}"))
        rules.append(spec)
    return tuple(rules)


_OPENED_BY = {
    "while parsing a flow sequence": "'['",
    "while parsing a flow mapping": "'{'",
}
_QUOTES = {'"': 'double quote (")', "'": "single quote (')"}


def _syntax_problem(exc: MarkedYAMLError, shown: str) -> Problem:
    """A YAML syntax error located where the mistake starts, naming where the parser gave up.

    ruamel's ``problem_mark`` is where parsing failed, often far below the cause
    (an unclosed ``[`` is noticed only at the end of the file); its
    ``context_mark`` is where the construct that failed was opened.
    """
    problem = str(exc.problem or exc.context or "not valid YAML")
    start = _position(exc.context_mark)
    stop = _position(exc.problem_mark)
    if start is None or stop is None or start == stop:
        line, column = stop or start or (None, None)
        return Problem(shown, line, f"YAML syntax error: {problem}", column)
    at_end = "<stream end>" in problem or "end of stream" in problem
    stop_line, stop_column = stop
    context = str(exc.context or "")
    opener = _OPENED_BY.get(context)
    if context == "while scanning a quoted scalar":
        opener = _QUOTES.get(_char_at(exc.context_mark), "quote")
    if opener is not None and at_end:
        message = (
            f"this {opener} is never closed (the parser reached the end of the file"
            f" at line {stop_line}, column {stop_column})"
        )
    elif opener is not None:
        message = (
            f"this {opener} is not closed (the parser stopped at line {stop_line},"
            f" column {stop_column}: {problem})"
        )
    else:
        what = re.sub(r"^while (?:parsing|scanning|constructing) (?:an? )?", "", context)
        inside = f"the {what}" if what and what != context else "what"
        message = (
            f"in {inside} that starts here, the parser stopped at line {stop_line},"
            f" column {stop_column}: {problem}"
        )
    return Problem(shown, start[0], f"YAML syntax error: {message}", start[1])


def _position(mark: Any) -> tuple[int, int] | None:
    """A ruamel mark's 1-based (line, column), if it has both."""
    line = getattr(mark, "line", None)
    column = getattr(mark, "column", None)
    if not isinstance(line, int) or not isinstance(column, int):
        return None
    return line + 1, column + 1


def _char_at(mark: Any) -> str:
    """The character a ruamel mark points at, if the mark keeps the text it came from."""
    buffer = getattr(mark, "buffer", None)
    pointer = getattr(mark, "pointer", None)
    if isinstance(buffer, str) and isinstance(pointer, int) and 0 <= pointer < len(buffer):
        return buffer[pointer]
    return ""


def _line_of(data: Any, loc: tuple[int | str, ...] | list[int | str]) -> int | None:
    """The 1-based line of the deepest node along ``loc`` that the YAML document has."""
    node = data
    line: int | None = None
    for key in loc:
        try:
            if isinstance(node, CommentedMap) and key in node:
                line = node.lc.key(key)[0] + 1
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
                line = node.lc.item(key)[0] + 1
                node = node[key]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def _describe(err: Any) -> str:
    loc = ".".join(str(part) for part in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}' in {_parent(err['loc'])}"
    if kind == "missing":
        return f"{_parent(err['loc'])} is missing required key '{err['loc'][-1]}'"
    message = str(err["msg"])
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    if kind == "string_pattern_mismatch" and err["loc"][-1] == "url":
        message = "must be an http:// or https:// URL"
    elif kind == "string_pattern_mismatch":
        message = "names take letters, digits, '.', '_' and '-' only"
    return f"{loc}: {message}"


def _parent(loc: tuple[int | str, ...]) -> str:
    parts = loc[:-1]
    if not parts:
        return "the top level"
    if len(parts) >= 2 and isinstance(parts[1], int):
        return f"{parts[0]}[{parts[1] + 1}]" + "".join(f".{p}" for p in parts[2:])
    return ".".join(str(p) for p in parts)


def expand_env(template: str, env: Mapping[str, str]) -> str:
    """Fill ``${VAR}`` from the environment; the config loader has checked each is set."""
    return ENV_VAR.sub(lambda m: env.get(m.group(1), ""), template)


def channel_secrets(channels: Iterable[ChannelSpec], env: Mapping[str, str]) -> list[str]:
    """The values of every ``${VAR}`` the channels use: never to be shown anywhere."""
    names = {var for spec in channels for url in spec.urls for var in ENV_VAR.findall(url)}
    return sorted((env[name] for name in names if env.get(name)), key=len, reverse=True)


def json_schema() -> dict[str, Any]:
    """JSON Schema of config.yaml, for editors; durations shown as users write them (10m)."""
    schema = ConfigModel.model_json_schema()

    def tidy(node: object) -> None:
        if isinstance(node, dict):
            default = node.get("default")
            if isinstance(default, str) and re.fullmatch(r"P(?:\d+D)?(?:T[\dHMS.]+)?", default):
                node["default"] = format_duration(TypeAdapter(timedelta).validate_python(default))
            for value in node.values():
                tidy(value)
        elif isinstance(node, list):
            for value in node:
                tidy(value)

    tidy(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "watcher config.yaml"
    return schema
