"""Record shapes: a field of the wrong type refuses the record whole, naming the field."""

from __future__ import annotations

import pytest

from berth.util.records import require

SHAPE = {"Name": str, "Pid": int, "Config": dict}
OPTIONAL = {"Labels": dict, "Ports": (dict, list)}


def test_a_record_of_the_right_shape_is_returned_as_is() -> None:
    raw = {"Name": "a", "Pid": 0, "Config": {}, "Labels": None, "Ports": [], "Extra": 1}
    assert require(raw, SHAPE, optional=OPTIONAL) is raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "expected an object, got list"),
        ({"Name": "a", "Pid": 0}, "field Config is missing"),
        ({"Name": "a", "Pid": "0", "Config": {}}, "field Pid: expected int, got str"),
        ({"Name": "a", "Pid": True, "Config": {}}, "field Pid: expected int, got bool"),
        ({"Name": "a", "Pid": 0, "Config": []}, "field Config: expected dict, got list"),
        ({"Name": "a", "Pid": 0, "Config": {}, "Ports": "x"}, "field Ports: expected dict or list, got str"),
    ],
)
def test_a_wrong_field_is_named(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        require(raw, SHAPE, optional=OPTIONAL)
