"""oci/platform.py: parsing the API's platform strings and matching an image's."""

from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.oci.platform import Platform, parse


def test_parse_normalises_the_spellings_uname_and_people_use() -> None:
    assert parse("linux/x86_64") == Platform("linux", "amd64")
    assert parse("linux/aarch64") == Platform("linux", "arm64")
    assert parse("linux/arm64/v8") == Platform("linux", "arm64")
    assert str(parse("Linux/ARM/v7")) == "linux/arm/v7"


@pytest.mark.parametrize("text", ["linux", "", "linux/", "a/b/c/d"])
def test_parse_refuses_what_docker_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument, match="unknown operating system or architecture"):
        parse(text)


def test_matching_an_image() -> None:
    assert parse("linux/amd64").matches("linux", "amd64")
    assert parse("linux/arm").matches("linux", "arm", "v7")
    assert not parse("linux/arm/v6").matches("linux", "arm", "v7")
    assert not parse("linux/arm64").matches("linux", "amd64")
