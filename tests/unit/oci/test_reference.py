from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.oci import reference


@pytest.mark.parametrize(
    "text", ["busybox", "library/busybox", "docker.io/library/busybox", "index.docker.io/busybox"]
)
def test_hub_spellings_are_one_name(text: str) -> None:
    ref = reference.parse(text)
    assert str(ref) == "docker.io/library/busybox:latest"
    assert ref.familiar == "busybox:latest"


def test_registry_hosts_tags_and_digests() -> None:
    digest = "sha256:" + "a" * 64
    ref = reference.parse(f"localhost:5000/team/app:v1@{digest}")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "team/app", "v1", digest)
    assert ref.familiar_name == "localhost:5000/team/app"
    assert reference.parse("me/app").familiar == "me/app:latest"
    assert reference.parse("127.0.0.1:5000/x").domain == "127.0.0.1:5000"


@pytest.mark.parametrize("text", ["", "UPPER", "a:b:c", "bad@sha256:12", "x/", " busybox"])
def test_malformed_references_are_invalid_argument(text: str) -> None:
    with pytest.raises(InvalidArgument):
        reference.parse(text)
