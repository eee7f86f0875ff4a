"""Config errors name the file and the line; every problem is reported at once."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields, replace
from pathlib import Path

import pytest

from tests.conftest import Project
from watcher.config import Config, ConfigModel, load_config, locate_config
from watcher.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def problems(project: Project, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = project.write(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env or {})
    return [str(p) for p in info.value.problems]


def test_every_problem_is_reported_with_file_and_line(project: Project) -> None:
    found = problems(
        project,
        """\
        interval: 10m
        channels:
          phone: "tgram://${TELEGRAM_BOT_TOKEN}/123"
        feeds:
          - name: wire
            url: http://example.org/a.xml
          - name: wire
            url: http://example.org/b.xml
        rules:
          - name: hama-rebels
            query: Hama AND rebels
            notify: [phone, pager]
            colour: red
        """,
    )
    path = str(project.config)
    joined = "\n".join(found)
    assert f"{path}:13: unknown key 'colour' in rules[1]" in joined
    # The bad rule does not hide the problems elsewhere in the file.
    assert (
        f"{path}:3: channel 'phone': environment variable ${{TELEGRAM_BOT_TOKEN}} is not set"
        in found
    )
    assert f"{path}:7: feed name 'wire' is used twice (first at line 5)" in found
    assert len(found) == 3


def test_semantic_problems_all_at_once(project: Project) -> None:
    found = problems(
        project,
        """\
        channels:
          phone: "tgram://${TELEGRAM_BOT_TOKEN}/123"
        feeds:
          - name: wire
            url: http://example.org/a.xml
          - name: wire
            url: http://example.org/b.xml
        rules:
          - name: hama-rebels
            query: Hama AND rebels
            notify: [phone, pager]
          - name: hama-rebels
            query: Hama
        """,
    )
    path = str(project.config)
    assert (
        f"{path}:2: channel 'phone': environment variable ${{TELEGRAM_BOT_TOKEN}} is not set"
        in found
    )
    assert f"{path}:6: feed name 'wire' is used twice (first at line 4)" in found
    assert any(
        p.startswith(f"{path}:11: rule 'hama-rebels': unknown channel 'pager'") for p in found
    )
    assert f"{path}:12: rule name 'hama-rebels' is used twice (first at line 9)" in found
    assert len(found) == 4


def test_yaml_typo_names_line_and_column(project: Project) -> None:
    found = problems(project, "feeds:\n  - name: wire\n    url: [http://x\nrules: []\n")
    assert len(found) == 1
    # First where the user erred (the '['), then where the parser gave up.
    assert found[0].startswith(f"{project.config}:3:10:")
    assert "YAML syntax error" in found[0]
    assert "line 4, column 6" in found[0]


SYNTAX_ERRORS = [
    pytest.param(
        "feeds: []\nrules:\n  - name: r\n    notify: stdout\n    feeds: []\n    query: [unclosed\n",
        "6:12: YAML syntax error: this '[' is never closed"
        " (the parser reached the end of the file at line 7, column 1)",
        id="flow-sequence-at-end",
    ),
    pytest.param(
        "feeds:\n  - name: wire\n    url: [http://x\nrules: []\n",
        "3:10: YAML syntax error: this '[' is not closed"
        " (the parser stopped at line 4, column 6: expected ',' or ']', but got ':')",
        id="flow-sequence-before-more",
    ),
    pytest.param(
        "channels: {desk: json://x\n",
        "1:11: YAML syntax error: this '{' is never closed"
        " (the parser reached the end of the file at line 2, column 1)",
        id="flow-mapping-at-end",
    ),
    pytest.param(
        "channels: {desk: json://x\nfeeds: []\n",
        "1:11: YAML syntax error: this '{' is not closed"
        " (the parser stopped at line 2, column 6: expected ',' or '}', but got ':')",
        id="flow-mapping-before-more",
    ),
    pytest.param(
        'rules:\n  - name: r\n    query: "Hama AND\nfeeds: []\n',
        '3:12: YAML syntax error: this double quote (") is never closed'
        " (the parser reached the end of the file at line 5, column 1)",
        id="double-quote",
    ),
    pytest.param(
        "rules:\n  - name: r\n    query: 'Hama AND\nfeeds: []\n",
        "3:12: YAML syntax error: this single quote (') is never closed"
        " (the parser reached the end of the file at line 5, column 1)",
        id="single-quote",
    ),
    pytest.param(
        'rules:\n  - name: r\n    query: "Hama\n---\n',
        '3:12: YAML syntax error: this double quote (") is not closed'
        " (the parser stopped at line 4, column 1: found unexpected document separator)",
        id="double-quote-before-document-end",
    ),
    pytest.param(
        "interval: 10m\ninterval: 5m\n",
        "1:1: YAML syntax error: in the mapping that starts here, the parser stopped"
        ' at line 2, column 1: found duplicate key "interval" with value "5m"'
        ' (original value: "10m")',
        id="generic-both-positions",
    ),
    pytest.param(
        "feeds:\n\t- name: a\n",
        "2:1: YAML syntax error: found character '\\t' that cannot start any token",
        id="no-context-mark-one-position",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SYNTAX_ERRORS)
def test_yaml_syntax_errors_point_at_the_mistake_and_where_parsing_stopped(
    project: Project, text: str, expected: str
) -> None:
    path = project.config
    path.write_text(text, encoding="utf-8")  # literal YAML, not dedented
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(info.value) == f"{path}:{expected}"
    assert len(info.value.problems) == 1


def test_validate_prints_the_syntax_error_with_both_positions(project: Project) -> None:
    project.config.write_text("rules:\n  - name: r\n    query: [unclosed\n", encoding="utf-8")
    result = project.run("validate")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"{project.config}:3:12: YAML syntax error: this '[' is never closed"
        " (the parser reached the end of the file at line 4, column 1)"
    )
    assert "Traceback" not in result.stderr
    as_json = project.run("validate", "--json")
    assert as_json.exit_code == 2
    [listed] = json.loads(as_json.stdout)
    assert (listed["line"], listed["column"]) == (3, 12)


def test_bad_values_are_named(project: Project) -> None:
    found = problems(
        project,
        """\
        interval: ten minutes
        feeds:
          - name: wire
            url: ftp://example.org/feed
        """,
    )
    joined = "\n".join(found)
    assert f"{project.config}:1: interval: 'ten minutes' is not a duration" in joined
    assert f"{project.config}:4: feeds.0.url: must be an http:// or https:// URL" in joined


@pytest.mark.parametrize(
    ("setting", "line"),
    [
        ("fetch: {deadline: 0s}", 1),
        ("fetch: {connect_timeout: -5}", 1),
        ("fetch: {per_host: 0}", 1),
        ("feeds: [{name: wire, url: 'https://a.example/', fetch: {read_timeout: 0}}]", 1),
    ],
)
def test_fetch_limits_that_would_fail_every_fetch_are_refused(
    project: Project, setting: str, line: int
) -> None:
    found = problems(project, setting + "\n")
    assert len(found) == 1 and found[0].startswith(f"{project.config}:{line}: ")
    assert any(word in found[0] for word in ("greater than", "at least"))


def test_a_query_that_does_not_parse_names_rule_and_line(project: Project) -> None:
    found = problems(
        project,
        """\
        rules:
          - name: broken
            query: (Hama AND
        """,
    )
    assert len(found) == 1
    assert found[0].startswith(f"{project.config}:3: rule 'broken':")


def test_env_vars_expand_and_relative_database_resolves_next_to_config(project: Project) -> None:
    path = project.write(
        """\
        database: state/w.db
        interval: 5m
        max_age: 1d
        channels:
          desk: "json://localhost/${HOOK}"
        feeds:
          - {name: a, url: "http://example.org/a.xml", interval: 90s}
          - {name: b, url: "http://example.org/b.xml"}
        rules:
          - {name: r, query: Hama, notify: desk}
        """
    )
    config = load_config(path, {"HOOK": "secret"})
    assert config.database == project.root / "state" / "w.db"
    assert [f.interval.total_seconds() for f in config.feeds] == [90, 300]
    assert config.feeds[0].max_age.days == 1
    assert config.rules[0].notify == ("desk",)
    assert config.channels["desk"].urls == ("json://localhost/${HOOK}",)


def test_defaults_come_from_the_model_alone(project: Project) -> None:
    config = load_config(project.write("feeds: []\n"), {})
    model = ConfigModel()
    assert not any(
        f.default is not MISSING or f.default_factory is not MISSING for f in fields(Config)
    )
    assert config.database == project.root / model.database
    for name in (
        "interval",
        "max_age",
        "fetch",
        "feed_alert_after",
        "timezone",
        "give_up_after",
        "retention",
        "cluster",
        "workers",
        "cluster_window",
        "cluster_threshold",
    ):
        assert getattr(config, name) == getattr(model, name), name
    assert config.health_notify == tuple(model.health_notify)
    assert config.templates == model.templates == {}
    assert config.metrics is None and model.metrics is None
    moved = replace(config, database=project.root / "other.db")
    assert moved.database == project.root / "other.db"
    assert moved.interval == config.interval


def test_config_is_found_by_option_then_env_then_cwd(tmp_path: Path) -> None:
    assert locate_config("a.yaml", {"WATCHER_CONFIG": "b.yaml"}) == Path("a.yaml")
    assert locate_config(None, {"WATCHER_CONFIG": "b.yaml"}) == Path("b.yaml")
    assert locate_config(None, {}) == Path("config.yaml")


def test_validate_exits_2_listing_problems_on_stderr(project: Project) -> None:
    project.write("feeds:\n  - name: a\n    url: nope\n")
    result = project.run("validate")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{project.config}:3:" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_json_lists_problems(project: Project) -> None:
    project.write("feeds:\n  - name: a\n    url: nope\n")
    result = project.run("validate", "--json")
    assert result.exit_code == 2
    listed = json.loads(result.stdout)
    assert listed[0]["line"] == 3 and listed[0]["file"] == str(project.config)


def test_validate_is_quiet_on_success(project: Project) -> None:
    project.write("feeds: []\n")
    result = project.run("validate")
    assert result.exit_code == 0
    assert result.output == ""


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    project = Project(tmp_path)
    result = project.run("once")
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_unusable_database_exits_3(project: Project) -> None:
    (project.root / "db").mkdir()
    project.write("database: db\nfeeds: []\n")  # a directory, not a file
    result = project.run("once")
    assert result.exit_code == 3
    assert "cannot use database" in result.stderr


def test_the_example_config_validates_as_shipped() -> None:
    config = load_config(REPO / "config.yaml", {})
    assert any(rule.name == "hama-rebels" for rule in config.rules)
    assert len(config.feeds) >= 3


def test_two_feeds_on_one_url_pass_validation_with_a_warning(project: Project) -> None:
    project.write(
        """\
        feeds:
          - {name: wire, url: "https://news.example/rss"}
          - {name: again, url: "https://News.Example/rss#top"}
          - {name: other, url: "https://news.example/world"}
        """
    )
    result = project.run("validate")
    assert result.exit_code == 0
    assert result.stderr.strip().splitlines() == [
        f"{project.config}:3: warning: feed 'again': same URL as feed 'wire' (line 2); "
        "it is fetched twice"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"feeds:\n  - name: caf\xe9\n", ":2:14: not UTF-8: byte 0xe9"),
        (b"feeds:\n  - name: a\x00b\n", ":2:12: YAML: special characters are not allowed"),
        (b"x: " + b"[" * 1000 + b"]" * 1000 + b"\n", ":1:104: nested more than 100 levels deep"),
        (
            b"rules:\n  - name: deep\n    query: '" + b"(" * 150 + b"a" + b")" * 150 + b"'\n",
            ":3: rule 'deep': column 101: nested more than 100 levels deep",
        ),
        (
            b"rules:\n  - name: nots\n    query: '" + b"NOT " * 1000 + b"a'\n",
            ":3: rule 'nots': column 401: nested more",
        ),
    ],
    ids=["latin-1 byte", "NUL byte", "deep YAML", "deep query", "1000 NOTs"],
)
def test_a_hostile_file_is_a_config_error_with_its_line_in_every_command(
    project: Project, raw: bytes, expected: str
) -> None:
    project.config.write_bytes(raw)
    for command in (
        ["validate"],
        ["once"],
        ["match", "--rules", str(project.config), "--title", "a"],
    ):
        result = project.run(*command)
        assert result.exit_code == 2, (command, result.stderr)
        assert f"{project.config}{expected}" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "where",
    [
        "channels: {out: {url: 'json://127.0.0.1:9/x', digest: '0 25 * * *'}}\n",
        "rules: [{name: r, query: a, digest: 'twice a day'}]\n",
    ],
    ids=["channel", "rule"],
)
def test_a_digest_that_is_no_schedule_is_refused_at_load_with_its_line(
    project: Project, where: str
) -> None:
    found = problems(project, where)
    assert len(found) == 1 and found[0].startswith(f"{project.config}:1: ")
    assert "hourly, daily or a cron expression" in found[0]


# -- database: a SQLite file or a PostgreSQL URL (#17) -------------------------------------


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("mysql://u@db/watcher", "database: 'mysql://' is not a database watcher can use"),
        ("sqlite3://watcher.db", "database: 'sqlite3://' is not a database watcher can use"),
        ("postgresql://u:${PGPASS}@db/w", "database: environment variable ${PGPASS} is not set"),
        ("postgresql://", "database: a postgresql:// URL needs a host or a database"),
    ],
    ids=["other-scheme", "near-miss", "unset-password", "empty"],
)
def test_a_database_url_watcher_cannot_use_is_an_error_with_its_line(
    project: Project, value: str, error: str
) -> None:
    found = problems(project, f"feeds: []\ndatabase: '{value}'\n")
    assert len(found) == 1
    assert found[0].startswith(f"{project.config}:2: {error}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("watcher.db", "ROOT/watcher.db"),
        ("sqlite:data/w.db", "ROOT/data/w.db"),
        ("/var/lib/watcher/w.db", "/var/lib/watcher/w.db"),
    ],
)
def test_a_database_path_is_a_sqlite_file_beside_the_config(
    project: Project, value: str, expected: str
) -> None:
    config = load_config(project.write(f"feeds: []\ndatabase: {value}\n"), {})
    assert config.database == Path(expected.replace("ROOT", str(project.root)))


def test_a_postgresql_url_takes_its_password_from_the_environment_and_never_shows_it(
    project: Project,
) -> None:
    from watcher.config import database_secrets

    path = project.write("feeds: []\ndatabase: postgresql://watcher:${PGPASS}@db:5433/news\n")
    config = load_config(path, {"PGPASS": "s3cr%2Ft"})
    assert config.database == "postgresql://watcher:s3cr%2Ft@db:5433/news"
    assert config.database_shown == "postgresql://watcher:***@db:5433/news"
    assert "s3cr" not in repr(config)
    assert database_secrets(config) == ["s3cr%2Ft", "s3cr/t"]
    assert config.warnings == ()


def test_a_password_written_in_the_file_is_a_warning(project: Project) -> None:
    config = load_config(project.write("feeds: []\ndatabase: postgresql://w:hunter2@db/news\n"), {})
    assert [str(w) for w in config.warnings] == [
        f"{project.config}:2: database: a password written in the file; write ${{VAR}} and"
        " set VAR in the environment"
    ]


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("instance: desk-a\n", {"WATCHER_INSTANCE": "env-b"}, "desk-a"),
        ("", {"WATCHER_INSTANCE": "env-b"}, "env-b"),
    ],
    ids=["config", "environment"],
)
def test_an_instance_is_named_by_the_config_else_the_environment(
    project: Project, text: str, env: dict[str, str], expected: str
) -> None:
    assert load_config(project.write(f"feeds: []\n{text}"), env).instance == expected


def test_an_unnamed_instance_is_its_host_and_process(project: Project) -> None:
    import os
    import socket

    config = load_config(project.write("feeds: []\n"), {})
    assert config.instance == f"{socket.gethostname()}:{os.getpid()}"
