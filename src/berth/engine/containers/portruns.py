"""Docker's port maps held as runs of consecutive ports: ``ExposedPorts``, ``PortBindings`` and the
host ports published (``NetworkSettings.Ports``).

``-p 20000-29999:20000-29999`` is 10,000 keys in each of the three, kept as long as the container
exists; as Docker's dicts they cost berthd ~5 MB, as runs one small object each. They read like the
dicts they stand for (a ``Mapping``, values made when asked for), are written to the record as runs,
and become Docker's dicts only in an answer (``to_dict``, e.g. for inspect).

A port joins the run before it when it is the next one of the same protocol and each of its bindings
has the same HostIp and the next HostPort (or the same literal one: "" for an ephemeral port); any other
entry (a key without a protocol, a value of another shape) is kept as it was given.
"""

from __future__ import annotations

import bisect
from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

V = TypeVar("V")

HostBinding = tuple[str, str]
"""Where a container port is published: (HostIp, HostPort)."""

Bindings = tuple[HostBinding, ...]
_Template = tuple[tuple[str, int | str], ...]  # per binding: HostIp, and an int (the run's first host
# port, counting up with the container port) or a literal HostPort the same for every port of the run
_PROTOCOLS = {"tcp": "tcp", "udp": "udp", "sctp": "sctp"}  # one string object each


@dataclass(frozen=True, slots=True)
class _Run:
    proto: str
    first: int
    last: int
    template: _Template

    def bindings(self, port: int) -> Bindings:
        return _shifted(self.template, port - self.first)


def _shifted(template: _Template, offset: int) -> Bindings:
    return tuple((ip, str(base + offset) if isinstance(base, int) else base) for ip, base in template)


def _template(bindings: Bindings) -> _Template:
    return tuple((ip, int(port) if _is_port(port) else port) for ip, port in bindings)


def _is_port(text: str) -> bool:
    """A host port that counts up in a run ("0" and "" are ephemeral, "8000-8010" a range: literal)."""
    return text.isdigit() and str(int(text)) == text and int(text) > 0


def _split(key: str) -> tuple[int, str] | None:
    """``"80/tcp"`` → (80, "tcp"); None for any other spelling (kept as given)."""
    port, _, given = key.partition("/")
    proto = _PROTOCOLS.get(given)
    if proto is None or not port.isdigit() or str(int(port)) != port:
        return None
    return int(port), proto


class PortRuns(Mapping[str, V], Generic[V]):
    """A port map as runs; subclasses say how a value is made from its bindings and back."""

    __slots__ = ("_entries", "_singles", "_starts", "_length")

    def __init__(self, entries: Iterable[_Run | tuple[str, V]] = ()) -> None:
        self._entries: list[_Run | str] = []  # in order: runs, and the keys of entries kept as given
        self._singles: dict[str, V] = {}
        self._starts: dict[str, list[tuple[int, _Run]]] = {}  # per protocol, sorted: for lookups
        self._length = 0
        for entry in entries:
            if isinstance(entry, _Run):
                self._entries.append(entry)
                bisect.insort(self._starts.setdefault(entry.proto, []), (entry.first, entry), key=_first)
                self._length += entry.last - entry.first + 1
            elif entry[0] not in self._singles:
                self._entries.append(entry[0])
                self._singles[entry[0]] = entry[1]
                self._length += 1

    # How a value is made from bindings, and which values can be (None: kept as given).
    @staticmethod
    def _value(bindings: Bindings) -> V:
        raise NotImplementedError

    @staticmethod
    def _bindings(value: Any) -> Bindings | None:
        raise NotImplementedError

    @classmethod
    def of(cls, items: Iterable[tuple[str, V]]) -> Self:
        builder = cls.builder()
        for key, value in items:
            builder.add(key, value)
        return builder.build()

    @classmethod
    def builder(cls) -> _Builder[Self]:
        return _Builder(cls)

    @classmethod
    def from_json(cls, raw: Any) -> Self:
        """The record's form (``to_record``), or Docker's dict (older records, request bodies)."""
        if isinstance(raw, list):
            builder = cls.builder()
            for item in raw:
                entry = _entry_from_record(item)
                if isinstance(entry, _Run):
                    builder.add_run(entry)
                else:
                    builder.add(*entry)
            return builder.build()
        if isinstance(raw, dict):
            return cls.of(raw.items())
        if raw is None:
            return cls()
        raise ValueError(f"not a port map: {type(raw).__name__}")

    def to_record(self) -> list[list[Any]]:
        """Runs as [proto, first, last, [[HostIp, HostPort], …]]; other entries as [key, value]."""
        return [
            [entry.proto, entry.first, entry.last, [list(t) for t in entry.template]]
            if isinstance(entry, _Run)
            else [entry, self._singles[entry]]
            for entry in self._entries
        ]

    def to_dict(self) -> dict[str, V]:
        """Docker's dict, for an answer."""
        return dict(self._items())

    def bindings_items(self) -> Iterator[tuple[str, Bindings | None]]:
        """(key, bindings) without making values; None for an entry kept as given."""
        for entry in self._entries:
            if isinstance(entry, _Run):
                for port in range(entry.first, entry.last + 1):
                    yield f"{port}/{entry.proto}", entry.bindings(port)
            else:
                yield entry, self._bindings(self._singles[entry])

    def _items(self) -> Iterator[tuple[str, V]]:
        for entry in self._entries:
            if isinstance(entry, _Run):
                for port in range(entry.first, entry.last + 1):
                    yield f"{port}/{entry.proto}", self._value(entry.bindings(port))
            else:
                yield entry, self._singles[entry]

    def _run_of(self, key: str) -> tuple[_Run, int] | None:
        split = _split(key)
        if split is None:
            return None
        port, proto = split
        starts = self._starts.get(proto) or []
        index = bisect.bisect_right(starts, port, key=_first) - 1
        if index >= 0 and starts[index][1].last >= port:
            return starts[index][1], port
        return None

    def __getitem__(self, key: str) -> V:
        if key in self._singles:
            return self._singles[key]
        found = self._run_of(key)
        if found is None:
            raise KeyError(key)
        return self._value(found[0].bindings(found[1]))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self._singles or self._run_of(key) is not None)

    def __iter__(self) -> Iterator[str]:
        for entry in self._entries:
            if isinstance(entry, _Run):
                for port in range(entry.first, entry.last + 1):
                    yield f"{port}/{entry.proto}"
            else:
                yield entry

    def __len__(self) -> int:
        return self._length

    def items(self) -> ItemsView[str, V]:
        return _Items(self)

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_record()!r})"


def _first(start: tuple[int, _Run]) -> int:
    return start[0]


class _Items(ItemsView[str, V]):
    _mapping: PortRuns[V]

    def __iter__(self) -> Iterator[tuple[str, V]]:
        return self._mapping._items()


class _Values(ValuesView[V]):
    _mapping: PortRuns[V]

    def __iter__(self) -> Iterator[V]:
        return (value for _, value in self._mapping._items())


R = TypeVar("R", bound=PortRuns[Any])


class _Builder(Generic[R]):
    """Entries added in order, consecutive ports merged into runs."""

    def __init__(self, kind: type[R]) -> None:
        self._kind = kind
        self._entries: list[_Run | tuple[str, Any]] = []
        self._open: _Run | None = None  # the run being extended (its ``last`` not yet final)
        self._last = 0

    def add(self, key: str, value: Any) -> None:
        split = _split(key)
        bindings = self._kind._bindings(value) if split is not None else None
        if split is None or bindings is None:
            self._close()
            bindings = self._kind._bindings(value)  # kept under its own key, in the shape of its kind
            self._entries.append((key, value if bindings is None else self._kind._value(bindings)))
            return
        port, proto = split
        run = self._open
        follows = run is not None and proto == run.proto and port == self._last + 1
        if run is not None and follows and bindings == _shifted(run.template, port - run.first):
            self._last = port
            return
        self._close()
        self._open, self._last = _Run(proto, port, port, _template(bindings)), port

    def add_run(self, run: _Run) -> None:
        self._close()
        self._entries.append(run)

    def _close(self) -> None:
        if self._open is not None:
            run = self._open
            self._entries.append(_Run(run.proto, run.first, self._last, run.template))
        self._open = None

    def build(self) -> R:
        self._close()
        return self._kind(self._entries)


def _entry_from_record(item: Any) -> _Run | tuple[str, Any]:
    if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str):
        return item[0], item[1]
    if (
        isinstance(item, list)
        and len(item) == 4
        and item[0] in _PROTOCOLS
        and isinstance(item[1], int)
        and isinstance(item[2], int)
        and 0 <= item[1] <= item[2] < 65536
        and isinstance(item[3], list)
        and all(
            isinstance(t, list) and len(t) == 2 and isinstance(t[0], str) and isinstance(t[1], int | str)
            for t in item[3]
        )
    ):
        template = tuple((str(ip), base) for ip, base in item[3])
        return _Run(_PROTOCOLS[item[0]], item[1], item[2], template)
    raise ValueError(f"not a port map entry: {item!r}"[:200])


class ExposedPorts(PortRuns[dict[str, Any]]):
    """``Config.ExposedPorts``: "80/tcp" → {}."""

    __slots__ = ()

    @staticmethod
    def _value(bindings: Bindings) -> dict[str, Any]:
        return {}

    @staticmethod
    def _bindings(value: Any) -> Bindings | None:
        return () if value == {} or value is None else None


class PortBindings(PortRuns[list[dict[str, str]]]):
    """``HostConfig.PortBindings``: "80/tcp" → [{"HostIp": …, "HostPort": …}, …]."""

    __slots__ = ()

    @staticmethod
    def _value(bindings: Bindings) -> list[dict[str, str]]:
        return [{"HostIp": ip, "HostPort": port} for ip, port in bindings]

    @staticmethod
    def _bindings(value: Any) -> Bindings | None:
        if not isinstance(value, list) or not value:
            return None  # null or []: one ephemeral binding, kept as the client wrote it
        pairs = []
        for bind in value:
            if not isinstance(bind, dict) or not set(bind) <= {"HostIp", "HostPort"}:
                return None
            ip, port = bind.get("HostIp") or "", bind.get("HostPort") or ""
            if not isinstance(ip, str) or not isinstance(port, str):
                return None
            pairs.append((ip, port))
        return tuple(pairs)


class HostPorts(PortRuns[Bindings]):
    """The host ports a running container's bindings hold: "80/tcp" → ((HostIp, HostPort), …)."""

    __slots__ = ()

    @staticmethod
    def _value(bindings: Bindings) -> Bindings:
        return bindings

    @staticmethod
    def _bindings(value: Any) -> Bindings | None:
        if value is None:
            return ()
        if not isinstance(value, tuple | list):
            return None
        pairs = []
        for bind in value:
            if isinstance(bind, dict):  # Docker's PortMap, as older records have it
                bind = (bind.get("HostIp") or "", bind.get("HostPort") or "")
            if not isinstance(bind, tuple | list) or len(bind) != 2:
                return None
            pairs.append((str(bind[0]), str(bind[1])))
        return tuple(pairs)
