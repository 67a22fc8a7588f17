"""Docker's filter values: ``name`` is a regular expression, as dockerd's ``filters.Match``."""

from __future__ import annotations

import pytest

from berth.daemon.server.filters import matches, parse_filters
from berth.errors import InvalidArgument


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("web", "my-web-1", True),  # a substring, as before
        ("^web", "web-1", True),
        ("^web", "my-web-1", False),  # anchored: what `docker ps --filter name=^web` means
        ("^web-[0-9]+$", "web-12", True),
        ("^web-[0-9]+$", "web-12x", False),
        ("[", "[", False),  # an invalid expression matches nothing, as in Docker
    ],
)
def test_name_patterns_are_regular_expressions(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_filters_in_both_of_dockers_shapes() -> None:
    assert parse_filters('{"name": {"^a": true, "b": false}}') == {"name": ["^a"]}
    assert parse_filters('{"name": ["^a", "b"]}') == {"name": ["^a", "b"]}
    with pytest.raises(InvalidArgument):
        parse_filters('{"name": "a"}')
