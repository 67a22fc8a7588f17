"""Port maps as runs: read like Docker's dicts, written to the record as runs, older records read."""

from __future__ import annotations

import json
import tracemalloc

from berth.engine.containers.portruns import ExposedPorts, HostPorts, PortBindings

WIDE = range(20000, 30000)


def _docker_bindings() -> dict[str, list[dict[str, str]] | None]:
    wanted: dict[str, list[dict[str, str]] | None] = {
        f"{p}/tcp": [{"HostIp": "", "HostPort": str(p)}] for p in WIDE
    }
    wanted["80"] = [{"HostIp": "127.0.0.1", "HostPort": ""}]  # no protocol: kept as given
    wanted["53/udp"] = None  # null: kept as given
    wanted["8000/tcp"] = [{"HostIp": "::1", "HostPort": "9000-9010"}]  # a host range: literal
    return wanted


def test_a_range_is_one_run_and_reads_as_the_dict_it_stands_for() -> None:
    wanted = _docker_bindings()
    bindings = PortBindings.of(wanted.items())
    assert len(bindings) == len(wanted)
    assert bindings == wanted and bindings.to_dict() == wanted
    assert list(bindings) == list(wanted)  # in the order given
    assert bindings["25000/tcp"] == [{"HostIp": "", "HostPort": "25000"}]
    assert bindings["80"] == wanted["80"] and bindings["53/udp"] is None
    for missing in ("19999/tcp", "30000/tcp", "25000/udp", "25000", "x"):
        assert missing not in bindings
    record = bindings.to_record()
    assert record[0] == ["tcp", 20000, 29999, [["", 20000]]]
    assert len(record) == 4


def test_the_record_form_reads_back_the_same() -> None:
    wanted = _docker_bindings()
    bindings = PortBindings.of(wanted.items())
    again = PortBindings.from_json(json.loads(json.dumps(bindings.to_record())))
    assert again == wanted and again.to_record() == bindings.to_record()
    exposed = ExposedPorts.from_json({key: {} for key in wanted})
    assert exposed.to_record()[0] == ["tcp", 20000, 29999, []]
    assert ExposedPorts.from_json(json.loads(json.dumps(exposed.to_record()))) == {key: {} for key in wanted}


def test_published_ports_read_every_form_records_had() -> None:
    pairs = {"80/tcp": (("0.0.0.0", "8080"), ("::", "8080")), "53/udp": ()}
    as_runs = HostPorts.of(pairs.items())
    assert HostPorts.from_json(json.loads(json.dumps(as_runs.to_record()))) == pairs
    assert HostPorts.from_json(json.loads(json.dumps(pairs))) == pairs  # pairs under Docker's keys
    docker_shaped = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}]
    }
    assert HostPorts.from_json({**docker_shaped, "53/udp": None}) == pairs  # Docker's PortMap
    assert HostPorts.from_json(None) == {}


def test_ephemeral_ports_of_a_range_stay_one_run_and_a_gap_starts_another() -> None:
    ephemeral = PortBindings.of((f"{p}/udp", [{"HostIp": "", "HostPort": ""}]) for p in range(5000, 5100))
    assert ephemeral.to_record() == [["udp", 5000, 5099, [["", ""]]]]
    gapped = HostPorts.of(
        (f"{p}/tcp", (("0.0.0.0", str(p + 1000)),)) for p in (*range(1, 10), *range(20, 30))
    )
    assert [entry[:3] for entry in gapped.to_record()] == [["tcp", 1, 9], ["tcp", 20, 29]]
    assert gapped["25/tcp"] == (("0.0.0.0", "1025"),)


def test_a_record_entry_of_another_shape_is_refused() -> None:
    for bad in ([["tcp", 10, 5, []]], [["icmp", 1, 2, []]], [["tcp", 1, 2, [["", 1, 2]]]], [[1, 2, 3]], "x"):
        try:
            PortBindings.from_json(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_ten_thousand_ports_take_a_few_kilobytes() -> None:
    wanted = _docker_bindings()
    PortBindings.of(wanted.items())  # fills the interpreter's free lists before counting
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = (PortBindings.of(wanted.items()), ExposedPorts.of((k, {}) for k in wanted))
        assert tracemalloc.get_traced_memory()[0] - before < 64 * 1024
    finally:
        tracemalloc.stop()
    assert len(kept[0]) == len(kept[1]) == len(wanted)
