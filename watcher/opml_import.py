"""``watcher import-opml``: add an OPML file's feeds to config.yaml, keeping the file as it was.

config.yaml is the user's own file, comments and all, so it is edited with
ruamel.yaml's round trip rather than rewritten, and replaced atomically so a
crash leaves either the old file or the new one.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, MarkedYAMLError
from ruamel.yaml.tokens import CommentToken

from watcher.config import FEED_URL
from watcher.core.dedupe import canonical_url
from watcher.core.errors import ConfigError, Problem
from watcher.core.opml import OpmlError, OpmlFeed, read_opml, unique_names

_KEY_ONLY = re.compile(r"^(?P<indent> *)[^\s#-][^#]*:\s*(?:#.*)?$")
_DASH = re.compile(r"^(?P<indent> *)-(?P<gap> +)(?P<rest>\S)")
_DEFAULT_INDENT = (2, 4, 2)  # mapping, sequence, offset: the style of the example config


@dataclass
class ImportReport:
    """What an import did: ``added`` as (name, url), ``skipped`` as (url, reason)."""

    added: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def import_opml(config_path: Path, opml_path: Path) -> ImportReport:
    """Append the OPML file's new feeds to the ``feeds:`` list of config.yaml.

    Feeds already configured (by canonical URL), repeated in the file, or not
    http(s) are skipped with a reason.  The file is not touched when nothing
    is added.
    """
    try:
        opml_body = opml_path.read_bytes()
    except OSError as exc:
        raise OpmlError(f"cannot read {opml_path}: {exc.strerror or exc}") from None
    candidates = read_opml(opml_body)

    shown = str(config_path)
    try:
        raw = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(shown, None, "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(shown, None, f"cannot read: {exc}")]) from None
    bom = "\ufeff" if raw.startswith("\ufeff") else ""
    newline = "\r\n" if "\r\n" in raw else "\n"
    text = raw[len(bom) :].replace("\r\n", "\n")

    yaml = _round_trip(text)
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = f"YAML syntax error: {exc.problem or exc.context}"
        raise ConfigError([Problem(shown, line, problem)]) from None
    # A file of comments alone loads as None; those comments are kept above the new list.
    preamble = ""
    if data is None:
        data = CommentedMap()
        kept = [line for line in text.splitlines() if line.lstrip().startswith("#")]
        preamble = "".join(line + "\n" for line in kept)
    if not isinstance(data, CommentedMap):
        raise ConfigError([Problem(shown, 1, "expected a mapping of settings at the top level")])
    feeds = data.get("feeds")
    if feeds is not None and not isinstance(feeds, CommentedSeq):
        line = data.lc.key("feeds")[0] + 1
        raise ConfigError([Problem(shown, line, "feeds: expected a list of feeds")])

    report, new_entries = _plan(feeds or [], candidates)
    if not new_entries:
        return report

    if feeds is None:
        if "feeds" in data:  # "feeds:" with nothing under it, perhaps a comment
            trailing = _detach_following_lines(data.ca.items.get("feeds"), 2)
        else:
            trailing = _take_trailing_comment(data)
        feeds = CommentedSeq()
        data["feeds"] = feeds
    else:
        if feeds.fa.flow_style() or not feeds:
            # "feeds: []" grows into a block list; what followed it is hung on the key.
            trailing = _detach_following_lines(data.ca.items.get("feeds"), 2)
            feeds.ca.comment = None  # ruamel also keeps that comment here, for flow style
            feeds.fa.set_block_style()
        else:
            trailing = _take_trailing_comment(feeds)
    for name, url in new_entries:
        feeds.append(CommentedMap([("name", name), ("url", url)]))
    if trailing is not None:
        _put_trailing_comment(feeds, trailing)

    out = io.StringIO()
    yaml.dump(data, out)
    result = preamble + out.getvalue()
    _check_round_trip(result, len(feeds), shown)
    _write_atomically(config_path, bom + result.replace("\n", newline))
    return report


def _plan(
    existing: list[Any], candidates: list[OpmlFeed]
) -> tuple[ImportReport, list[tuple[str, str]]]:
    """Which candidates to add, and under which names; the rest are reported skipped."""
    report = ImportReport()
    known: dict[str, str] = {}
    taken: set[str] = set()
    for entry in existing:
        if isinstance(entry, dict):
            name = str(entry.get("name", ""))
            taken.add(name)
            if isinstance(entry.get("url"), str):
                known[canonical_url(entry["url"])] = f"already configured as {name!r}"
    accepted: list[tuple[str, str]] = []  # (title, url)
    for feed in candidates:
        key = canonical_url(feed.url)
        if not FEED_URL.match(feed.url):
            report.skipped.append((feed.url, "not an http(s) URL"))
        elif key in known:
            report.skipped.append((feed.url, known[key]))
        else:
            known[key] = "listed twice in the OPML file"
            accepted.append((feed.title, feed.url))
    names = unique_names([title for title, _ in accepted], taken)
    entries = [(name, url) for name, (_, url) in zip(names, accepted, strict=True)]
    report.added.extend(entries)
    return report, entries


def _round_trip(text: str) -> YAML:
    """A round-trip YAML that writes this file's indentation back, not ruamel's default."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the user wrote on one
    mapping, sequence, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    first = next((line for line in text.splitlines() if line.strip()), "")
    yaml.explicit_start = first.startswith("---")
    return yaml


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as this file uses them, the feeds list first.

    ``offset`` is how far a dash sits right of its key, ``sequence`` where the
    item's content starts; ruamel applies one setting to the whole file.
    """
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    mapping: int | None = None
    sequences: list[tuple[bool, int, int]] = []  # (is the feeds list, sequence, offset)
    for previous, line in pairwise(lines):
        key = _KEY_ONLY.match(previous)
        if key is None:
            continue
        parent = len(key.group("indent"))
        dash = _DASH.match(line)
        if dash is not None and len(dash.group("indent")) >= parent:
            offset = len(dash.group("indent")) - parent
            sequence = offset + 1 + len(dash.group("gap"))
            sequences.append((previous.strip().startswith("feeds:"), sequence, offset))
            continue
        child = len(line) - len(line.lstrip(" "))
        if mapping is None and child > parent and not line.lstrip().startswith("-"):
            mapping = child - parent
    sequences.sort(key=lambda found: not found[0])  # stable: the feeds list, if any, first
    if sequences:
        _, sequence, offset = sequences[0]
        return mapping or _DEFAULT_INDENT[0], sequence, offset
    return mapping or _DEFAULT_INDENT[0], _DEFAULT_INDENT[1], _DEFAULT_INDENT[2]


def _take_trailing_comment(node: Any) -> str | None:
    """Detach the comment lines below a block's last line and return them.

    ruamel hangs the comments that precede the next key (say ``rules:``) on the
    last value before it; appending after that value would leave them above
    the new entries instead of above the key they describe.
    """
    while isinstance(node, CommentedMap | CommentedSeq) and len(node):
        last: Any = list(node.keys())[-1] if isinstance(node, CommentedMap) else len(node) - 1
        index = 2 if isinstance(node, CommentedMap) else 0
        slot = node.ca.items.get(last)
        if slot is not None and len(slot) > index and slot[index] is not None:
            return _detach_following_lines(slot, index)
        child = node[last]
        if not isinstance(child, CommentedMap | CommentedSeq) or child.fa.flow_style():
            return None
        node = child
    return None


def _detach_following_lines(slot: list[Any] | None, index: int) -> str | None:
    """Split a comment token after its first line; return the lines below it."""
    if slot is None or len(slot) <= index or slot[index] is None:
        return None
    token = slot[index]
    value = str(token.value)
    end_of_line = value.find("\n")
    if end_of_line < 0 or not value[end_of_line + 1 :]:
        return None
    own, rest = value[: end_of_line + 1], value[end_of_line + 1 :]
    if own.strip():
        token.value = own  # the line's own "# comment" stays where it is
    else:
        slot[index] = None
    return rest


def _put_trailing_comment(feeds: CommentedSeq, comment: str) -> None:
    last = feeds[-1]
    token = CommentToken("\n" + comment, CommentMark(0), None)
    last.ca.items[list(last.keys())[-1]] = [None, None, token, None]


def _check_round_trip(text: str, count: int, shown: str) -> None:
    """Refuse to write a file that would not read back with every feed in it."""
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:  # pragma: no cover - ruamel writes what it reads
        raise ConfigError([Problem(shown, None, f"could not update the file: {exc}")]) from None
    feeds = data.get("feeds") if isinstance(data, dict) else None
    if not isinstance(feeds, list) or len(feeds) != count:  # pragma: no cover
        raise ConfigError([Problem(shown, None, "could not update the file safely")])


def _write_atomically(path: Path, text: str) -> None:
    """Replace the file (the target of a symlink, if it is one) in one step, keeping its mode."""
    target = path.resolve()
    mode = target.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
