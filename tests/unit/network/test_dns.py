"""The embedded DNS server on loopback: a fake ``Names`` (the engine's side) and a fake upstream
resolver (UDP and TCP, built with dnspython) on random ports; queries sent with dnspython."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from berth.network.dns import EmbeddedDNS

OUTSIDE = "outside.example."
OUTSIDE_ADDRESS = "203.0.113.7"
HOST = "127.0.0.1"


class FakeNames:
    """Names per network: ``records[scope][name] = (IPv4 addresses, IPv6 addresses)``."""

    def __init__(self, upstreams: list[str]) -> None:
        self.records: dict[str, dict[str, tuple[list[str], list[str]]]] = {
            "net1": {
                "web": (["10.0.0.2", "10.0.0.3"], ["fd00::2"]),
                "db": (["10.0.0.4"], []),
                "many": ([f"10.0.1.{n}" for n in range(1, 61)], []),
            },
            "net2": {"cache": (["10.0.2.2"], [])},
        }
        self.pointers = {"net1": {"10.0.0.4": "db.net1", "fd00::2": "web.net1"}}
        self.upstream_list = upstreams
        self.asked: list[tuple[str, str, str, int]] = []

    def resolve(self, scope: str, client: str, name: str, family: int) -> list[str] | None:
        self.asked.append((scope, client, name, family))
        found = self.records.get(scope, {}).get(name)
        return None if found is None else found[0 if family == 4 else 1]

    def reverse(self, scope: str, client: str, address: str) -> str | None:
        return self.pointers.get(scope, {}).get(address)

    def upstreams(self, scope: str, client: str) -> list[str]:
        return self.upstream_list


class FakeUpstream(asyncio.DatagramProtocol):
    """A resolver knowing one name; ``truncate`` makes its UDP answers TC (and empty)."""

    def __init__(self) -> None:
        self.truncate = False
        self.seen: list[tuple[str, str]] = []  # (transport, name)
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(8):  # TCP picks the port; UDP may find it taken
            self.tcp = await asyncio.start_server(self._connection, HOST, 0)
            self.port = self.tcp.sockets[0].getsockname()[1]
            try:
                self.udp, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(HOST, self.port))
            except OSError:
                self.tcp.close()
                continue
            return
        raise RuntimeError("no port for the fake upstream")

    def stop(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()

    def answer(self, wire: bytes, transport: str) -> bytes:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        self.seen.append((transport, question.name.to_text()))
        reply = dns.message.make_response(query)
        if question.name != dns.name.from_text(OUTSIDE):
            reply.set_rcode(dns.rcode.NXDOMAIN)
        elif transport == "udp" and self.truncate:
            reply.flags |= dns.flags.TC
        elif question.rdtype == dns.rdatatype.A:
            reply.answer.append(dns.rrset.from_text(question.name, 300, "IN", "A", OUTSIDE_ADDRESS))
        return reply.to_wire()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.udp is not None
        self.udp.sendto(self.answer(data, "udp"), addr)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = struct.unpack("!H", await reader.readexactly(2))
                reply = self.answer(await reader.readexactly(size), "tcp")
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass  # the client is done
        finally:
            writer.close()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream()
    await fake.start()
    yield fake
    fake.stop()


@pytest.fixture
async def names() -> FakeNames:
    return FakeNames([HOST])


@pytest.fixture
async def server(names: FakeNames, upstream: FakeUpstream) -> AsyncIterator[EmbeddedDNS]:
    embedded = EmbeddedDNS(names, upstream_port=upstream.port)
    await embedded.open("net1", HOST, 0)
    yield embedded
    await embedded.close_all()


def _port(server: EmbeddedDNS, scope: str = "net1") -> int:
    listening = server.listening(scope)
    assert listening is not None
    return listening[1]


async def _udp(server: EmbeddedDNS, name: str, rdtype: str = "A", scope: str = "net1") -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    return await dns.asyncquery.udp(query, HOST, timeout=3, port=_port(server, scope))


async def _tcp(server: EmbeddedDNS, name: str, rdtype: str = "A") -> dns.message.Message:
    return await dns.asyncquery.tcp(dns.message.make_query(name, rdtype), HOST, timeout=3, port=_port(server))


def _addresses(reply: dns.message.Message) -> list[str]:
    return [rdata.to_text() for rrset in reply.answer for rdata in rrset]


async def test_a_and_aaaa_of_a_network_name_in_the_engines_order(
    server: EmbeddedDNS, names: FakeNames
) -> None:
    reply = await _udp(server, "web.")
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.RA
    assert _addresses(reply) == ["10.0.0.2", "10.0.0.3"]
    assert reply.answer[0].ttl == 600
    names.records["net1"]["web"] = (["10.0.0.3", "10.0.0.2"], ["fd00::2"])  # the engine rotated
    assert _addresses(await _udp(server, "web.")) == ["10.0.0.3", "10.0.0.2"]
    assert _addresses(await _udp(server, "web.", "AAAA")) == ["fd00::2"]
    assert names.asked[-1] == ("net1", HOST, "web", 6)  # the client's address, no trailing dot


async def test_a_known_name_without_the_family_or_type_is_nodata(
    server: EmbeddedDNS, upstream: FakeUpstream
) -> None:
    for rdtype in ("AAAA", "MX", "ANY"):
        reply = await _udp(server, "db.", rdtype)
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.answer == []
    assert upstream.seen == []  # never forwarded


async def test_names_match_whatever_their_case(server: EmbeddedDNS, names: FakeNames) -> None:
    reply = await _udp(server, "WeB.")
    assert _addresses(reply) == ["10.0.0.2", "10.0.0.3"]
    assert reply.answer[0].name.to_text() == "WeB."  # the question's spelling comes back
    assert names.asked[-1][2] == "web"


async def test_ptr_of_a_container_and_of_anything_else(server: EmbeddedDNS, upstream: FakeUpstream) -> None:
    reply = await _udp(server, "4.0.0.10.in-addr.arpa.", "PTR")
    assert [rdata.to_text() for rdata in reply.answer[0]] == ["db.net1."]
    reply = await _udp(
        server, "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.D.F.IP6.ARPA.", "PTR"
    )
    assert [rdata.to_text() for rdata in reply.answer[0]] == ["web.net1."]
    reply = await _udp(server, "9.9.0.10.in-addr.arpa.", "PTR")
    assert reply.rcode() == dns.rcode.NXDOMAIN  # upstream's answer
    assert upstream.seen == [("udp", "9.9.0.10.in-addr.arpa.")]


async def test_other_names_are_forwarded_over_udp(server: EmbeddedDNS, upstream: FakeUpstream) -> None:
    reply = await _udp(server, OUTSIDE)
    assert _addresses(reply) == [OUTSIDE_ADDRESS]
    assert reply.flags & dns.flags.RA
    assert (await _udp(server, "nowhere.example.")).rcode() == dns.rcode.NXDOMAIN
    assert upstream.seen == [("udp", OUTSIDE), ("udp", "nowhere.example.")]


async def test_a_truncated_upstream_answer_is_asked_again_over_tcp(
    server: EmbeddedDNS, upstream: FakeUpstream
) -> None:
    upstream.truncate = True
    reply = await _udp(server, OUTSIDE)
    assert not reply.flags & dns.flags.TC
    assert _addresses(reply) == [OUTSIDE_ADDRESS]
    assert upstream.seen == [("udp", OUTSIDE), ("tcp", OUTSIDE)]


async def test_queries_over_tcp_are_forwarded_over_tcp(server: EmbeddedDNS, upstream: FakeUpstream) -> None:
    assert _addresses(await _tcp(server, OUTSIDE)) == [OUTSIDE_ADDRESS]
    assert _addresses(await _tcp(server, "web.")) == ["10.0.0.2", "10.0.0.3"]
    assert upstream.seen == [("tcp", OUTSIDE)]


async def test_upstreams_are_tried_in_order_and_dead_ones_are_servfail(upstream: FakeUpstream) -> None:
    # 127.0.0.3 listens on nothing: the next upstream answers
    names = FakeNames(["127.0.0.3", HOST])
    embedded = EmbeddedDNS(names, timeout=0.3, upstream_port=upstream.port)
    await embedded.open("net1", HOST, 0)
    try:
        assert _addresses(await _udp(embedded, OUTSIDE)) == [OUTSIDE_ADDRESS]
        upstream.stop()
        for query in (_udp(embedded, OUTSIDE), _tcp(embedded, OUTSIDE)):
            reply = await query
            assert reply.rcode() == dns.rcode.SERVFAIL
        names.upstream_list = []  # e.g. an internal network
        assert (await _udp(embedded, OUTSIDE)).rcode() == dns.rcode.SERVFAIL
        assert _addresses(await _udp(embedded, "db.")) == ["10.0.0.4"]  # still answers its own names
    finally:
        await embedded.close_all()


async def test_only_class_in_is_answered(server: EmbeddedDNS, upstream: FakeUpstream) -> None:
    query = dns.message.make_query("version.bind.", "TXT", rdclass=dns.rdataclass.CH)
    reply = await dns.asyncquery.udp(query, HOST, timeout=3, port=_port(server))
    assert reply.rcode() == dns.rcode.REFUSED
    assert upstream.seen == []


async def _raw_exchange(port: int, data: bytes, wait: float = 3) -> bytes | None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_sendto(sock, data, (HOST, port))
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, 4096), wait)
        except TimeoutError:
            return None


async def test_garbage_is_formerr_or_dropped_and_the_server_lives_on(server: EmbeddedDNS) -> None:
    header = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)  # one question, RD
    raw = await _raw_exchange(_port(server), header + b"\xff\xfe\x00")
    assert raw is not None
    reply = dns.message.from_wire(raw)
    assert (reply.id, reply.rcode()) == (0x1234, dns.rcode.FORMERR)
    assert reply.flags & dns.flags.QR and reply.flags & dns.flags.RD
    assert await _raw_exchange(_port(server), b"\x01\x02\x03", wait=0.3) is None
    response = struct.pack("!HHHHHH", 0x4321, 0x8180, 0, 0, 0, 0)  # a reply sent to a server: not answered
    assert await _raw_exchange(_port(server), response, wait=0.3) is None
    assert _addresses(await _udp(server, "web.")) == ["10.0.0.2", "10.0.0.3"]
    assert _addresses(await _tcp(server, "web.")) == ["10.0.0.2", "10.0.0.3"]


async def test_big_answers_are_truncated_over_udp_and_whole_over_tcp(server: EmbeddedDNS) -> None:
    reply = await _udp(server, "many.")
    assert reply.flags & dns.flags.TC
    assert reply.answer == []
    assert len(_addresses(await _tcp(server, "many."))) == 60
    big = dns.message.make_query("many.", "A", use_edns=0, payload=4096)
    reply = await dns.asyncquery.udp(big, HOST, timeout=3, port=_port(server))
    assert not reply.flags & dns.flags.TC  # the client's EDNS size is the limit
    assert len(_addresses(reply)) == 60


async def test_a_tcp_connection_carries_several_queries_then_idles_out(
    server: EmbeddedDNS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("berth.network.dns.TCP_IDLE_SECONDS", 0.3)
    reader, writer = await asyncio.open_connection(HOST, _port(server))
    try:
        for name, expected in (("web.", ["10.0.0.2", "10.0.0.3"]), (OUTSIDE, [OUTSIDE_ADDRESS])):
            wire = dns.message.make_query(name, "A").to_wire()
            writer.write(struct.pack("!H", len(wire)) + wire)
            (size,) = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 3))
            assert _addresses(dns.message.from_wire(await reader.readexactly(size))) == expected
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server when idle
    finally:
        writer.close()


async def test_open_close_and_reopen(names: FakeNames, upstream: FakeUpstream) -> None:
    embedded = EmbeddedDNS(names, upstream_port=upstream.port)
    try:
        assert embedded.listening("net1") is None
        await embedded.open("net1", HOST, 0)
        first = embedded.listening("net1")
        assert first is not None and first[1] != 0
        await embedded.open("net1", HOST, 0)  # already there
        await embedded.open("net1", HOST, first[1])
        assert embedded.listening("net1") == first
        with pytest.raises(OSError):
            await EmbeddedDNS(names).open("other", HOST, first[1])  # the port is taken
        reader, writer = await asyncio.open_connection(HOST, first[1])  # an open connection, idle
        await embedded.close("net1")
        assert await asyncio.wait_for(reader.read(), 3) == b""  # closed with its listener
        writer.close()
        await embedded.close("net1")  # idempotent
        assert embedded.listening("net1") is None
        with pytest.raises(OSError):
            await asyncio.open_connection(HOST, first[1])
        await embedded.open("net1", HOST, first[1])  # the same port is free again at once
        assert _addresses(await _udp(embedded, "web.")) == ["10.0.0.2", "10.0.0.3"]
        await embedded.open("net1", "127.0.0.2", 0)  # another address: the old one goes
        moved = embedded.listening("net1")
        assert moved is not None and moved[0] == "127.0.0.2"
        with pytest.raises(OSError):
            await asyncio.open_connection(HOST, first[1])
        reply = await dns.asyncquery.tcp(
            dns.message.make_query("web.", "A"), "127.0.0.2", timeout=3, port=moved[1]
        )
        assert _addresses(reply) == ["10.0.0.2", "10.0.0.3"]
    finally:
        await embedded.close_all()
    assert embedded.listening("net1") is None


async def test_two_networks_answer_their_own_names(server: EmbeddedDNS, upstream: FakeUpstream) -> None:
    await server.open("net2", HOST, 0)
    assert _port(server, "net2") != _port(server, "net1")
    assert _addresses(await _udp(server, "cache.", scope="net2")) == ["10.0.2.2"]
    assert (await _udp(server, "cache.", scope="net1")).rcode() == dns.rcode.NXDOMAIN  # forwarded
    assert (await _udp(server, "web.", scope="net2")).rcode() == dns.rcode.NXDOMAIN
    assert _addresses(await _udp(server, "web.", scope="net1")) == ["10.0.0.2", "10.0.0.3"]
    assert upstream.seen == [("udp", "cache."), ("udp", "web.")]
