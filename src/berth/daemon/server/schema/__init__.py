"""Request bodies checked against the Engine API's types, as dockerd's Go decoder checks them, and the
fields Berth refuses (``support.py``) answered with their message — before any handler acts.

May import: berth.errors. Entry points: ``decode(raw, kind)`` (bytes → the checked body) and
``check(body, kind)``; ``refuse_query(query, table)`` for query parameters.

``engine-api.json`` is generated from the spec by ``scripts/gen-api-fields``. Go's rules kept here:
``null`` is every type's zero value; an integer field takes no fraction and nothing out of its range;
field names match exactly first, then case-insensitively (the canonical spelling is what the
handlers see); unknown fields pass through, as Go ignores them. The first error, in the body's own
order, is the message: ``invalid JSON: json: cannot unmarshal string into Go struct field
CreateRequest.HostConfig.Memory of type int64``.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.daemon.server.schema.support import BUILD_QUERY, FIELDS, Row, Status
from berth.errors import InvalidArgument

__all__ = ["BUILD_QUERY", "FIELDS", "check", "decode", "refuse_query"]

_SCHEMA = Path(__file__).with_name("engine-api.json")
_INT_RANGES = {
    "int": (-(1 << 63), (1 << 63) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1), "int8": (-128, 127),
    "uint64": (0, (1 << 64) - 1), "uint32": (0, (1 << 32) - 1), "uint16": (0, 65535), "uint8": (0, 255),
}  # fmt: skip


@functools.cache
def _schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_SCHEMA.read_bytes())
    return data


def decode(raw: bytes, kind: str) -> dict[str, Any]:
    """Parse and check a JSON request body of ``kind`` (``ContainerCreate``, ``ExecCreate``, …);
    an empty body is ``{}``. InvalidArgument (400) with dockerd's wording otherwise."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    return check(body, kind)


def check(body: object, kind: str) -> dict[str, Any]:
    """``body`` checked against ``kind``'s schema, with field names in their canonical spelling."""
    spec = _schema()["bodies"][kind]
    checked = _Walk(spec["go"]).value(body, spec["schema"], ())
    if not isinstance(checked, dict):
        raise InvalidArgument(
            f"invalid JSON: json: cannot unmarshal {_json_kind(body)} into Go value of type {spec['go']}"
        )
    return checked


def refuse_query(query: Mapping[str, str], table: Mapping[str, Row] = BUILD_QUERY) -> None:
    """Refuse a query parameter whose row is ``refused`` when it has a value other than its zero."""
    for name, value in query.items():
        row = table.get(name)
        if (
            row is not None
            and row.status is Status.REFUSED
            and value not in ("", "0", "false", "[]", "{}", "null")
        ):
            raise InvalidArgument(row.note)


def is_unset(value: object, row: Row | None = None) -> bool:
    """Go's zero value (nothing given): null, "", 0, false, and lists or objects of only those."""
    if value is None or value is False or value == "" or (type(value) in (int, float) and value == 0):
        return True
    if row is not None and value in row.unset:
        return True
    if isinstance(value, list):
        return all(is_unset(v) for v in value)
    if isinstance(value, dict):
        return all(is_unset(v) for v in value.values())
    return False


def _json_kind(value: object, *, with_number: bool = False) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {json.dumps(value)}" if with_number else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_RESOLVED: dict[int, dict[str, Any]] = {}  # id of a schema node with a reference → the node resolved


class _Walk:
    def __init__(self, root: str) -> None:
        self._root = root
        self._defs: dict[str, Any] = _schema()["defs"]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        if "r" not in node:
            return node
        # the schema's nodes live as long as the process: each reference is resolved once
        resolved = _RESOLVED.get(id(node))
        if resolved is None:
            resolved = node
            while "r" in resolved:
                resolved = {**self._defs[resolved["r"]], **{k: v for k, v in resolved.items() if k != "r"}}
            _RESOLVED[id(node)] = resolved
        return resolved

    def _go_type(self, node: dict[str, Any]) -> str:
        node = self._resolve(node)
        kind = node["t"]
        if kind == "array":
            return "[]" + self._go_type(node["i"])
        if kind == "map":
            return "map[string]" + self._go_type(node["v"])
        if kind == "struct":
            return str(node["g"])
        if kind == "int":
            return str(node.get("f", "int"))
        names = {"number": "float64", "strslice": "strslice.StrSlice", "any": "interface {}"}
        return names.get(kind, str(kind))

    def _fail(self, value: object, node: dict[str, Any], path: tuple[str, ...]) -> InvalidArgument:
        where = f"Go struct field {self._root}.{'.'.join(path)}" if path else "Go value"
        kind = _json_kind(value, with_number=self._resolve(node)["t"] == "int")
        return InvalidArgument(
            f"invalid JSON: json: cannot unmarshal {kind} into {where} of type {self._go_type(node)}"
        )

    def value(self, value: object, node: dict[str, Any], path: tuple[str, ...]) -> object:
        if value is None:
            return None
        node = self._resolve(node)
        kind = node["t"]
        if kind == "any":
            return value
        if kind == "struct":
            if not isinstance(value, dict):
                raise self._fail(value, node, path)
            return self._struct(value, node, path)
        if kind == "map":
            if not isinstance(value, dict):
                raise self._fail(value, node, path)
            inner = node["v"]
            copy: dict[str, object] | None = None  # made at the first value checking changed
            for index, (k, v) in enumerate(value.items()):
                checked = self.value(v, inner, path)
                if copy is None and checked is not v:
                    copy = dict(itertools.islice(value.items(), index))
                if copy is not None:
                    copy[k] = checked
            return value if copy is None else copy
        if kind == "array":
            if not isinstance(value, list):
                raise self._fail(value, node, path)
            inner = node["i"]
            items: list[object] | None = None
            for index, v in enumerate(value):
                checked = self.value(v, inner, path)
                if items is None and checked is not v:
                    items = value[:index]
                if items is not None:
                    items.append(checked)
            return value if items is None else items
        if kind == "strslice":
            if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                return value
            raise self._fail(value, node, path)
        ok = {
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "int": type(value) is int and _in_range(value, node.get("f", "int")),
        }[kind]
        if not ok:
            raise self._fail(value, node, path)
        return value

    def _struct(self, value: dict[str, Any], node: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        props: dict[str, Any] = node["p"]
        out: dict[str, Any] | None = None  # made at the first field renamed or changed
        for index, (key, item) in enumerate(value.items()):
            name = key if key in props else _folded(props).get(key.lower())
            if name is None:
                checked = item  # unknown: Go ignores it; handlers never read it
                name = key
            else:
                prop = props[name]
                checked = self.value(item, prop, (*path, name))
                row = FIELDS.get(prop.get("k", ""))
                if row is not None and row.status is Status.REFUSED and not is_unset(checked, row):
                    raise row.error(row.note)
            if out is None and (name is not key or checked is not item):
                out = dict(itertools.islice(value.items(), index))
            if out is not None:
                out[name] = checked
        # nothing renamed or changed: the body's own dict (a large body is not built twice)
        return value if out is None else out


def _folded(props: dict[str, Any]) -> dict[str, str]:
    """A struct's field names by their lower case (Go matches them case-insensitively), once per struct."""
    folded = _FOLDED.get(id(props))
    if folded is None:
        folded = _FOLDED[id(props)] = {name.lower(): name for name in props}
    return folded


_FOLDED: dict[int, dict[str, str]] = {}  # the schema's structs live as long as the process


def _in_range(value: int, fmt: str) -> bool:
    low, high = _INT_RANGES.get(fmt, _INT_RANGES["int"])
    return low <= value <= high
