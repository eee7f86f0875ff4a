"""Pipeline values cross between the daemon and its worker processes intact."""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from watcher.core.models import ParsedFeed, Snippet, Story, pickled_by_fields

STORY = Story(
    feed="courier",
    guid="urn:courier:1",
    link="https://courier.example/quake",
    title="Quake hits Hama",
    summary="<p>A strong quake</p>",
    content="Full text",
    author="Staff",
    categories=("world", "syria"),
    published=datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("value", "fields"),
    [
        (
            STORY,
            (
                "courier",
                "urn:courier:1",
                "https://courier.example/quake",
                "Quake hits Hama",
                "<p>A strong quake</p>",
                "Full text",
                "Staff",
                ("world", "syria"),
                datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
            ),
        ),
        (
            Story("courier", None, None, "Quake"),
            ("courier", None, None, "Quake", "", "", "", (), None),
        ),
        (ParsedFeed("Courier", (STORY,), "truncated"), ("Courier", (STORY,), "truncated")),
        (Snippet("Quake hits Hama", ((0, 5),)), ("Quake hits Hama", ((0, 5),))),
    ],
)
def test_a_value_pickles_as_its_class_and_field_values_in_order(
    value: object, fields: tuple[object, ...]
) -> None:
    assert value.__reduce__() == (type(value), fields)


@pytest.mark.parametrize(
    "value",
    [
        STORY,
        Story("courier", None, None, ""),
        ParsedFeed("Courier", (STORY, Story("courier", "2", None, "Aftershock")), None),
        Snippet("Quake hits Hama", ((0, 5), (11, 15))),
    ],
)
def test_a_value_comes_back_from_a_worker_process_equal(value: object) -> None:
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value
    assert type(copy) is type(value)


@pytest.mark.parametrize(("left", "right"), [("wire", (1, 2)), ("", ())])
def test_any_dataclass_marked_pickled_by_fields_is_rebuilt_from_its_fields(
    left: str, right: tuple[int, ...]
) -> None:
    @pickled_by_fields
    @dataclass(frozen=True, slots=True)
    class Pair:
        left: str
        right: tuple[int, ...]

    pair = Pair(left, right)
    assert pair.__reduce__() == (Pair, (left, right))
    copied = copy.deepcopy(pair)  # the protocol pickle uses, for a class defined here
    assert copied == pair
    assert type(copied) is Pair
