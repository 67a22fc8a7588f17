"""berthd's embedded DNS server: the names of a network for its containers, the rest forwarded.

What Docker's embedded DNS at 127.0.0.11 does, served on each network's gateway address instead:
every container on the network already routes to its gateway, so one UDP and one TCP socket per
network, in berthd's event loop, serve them all — no socket and no NAT rule inside each container's
namespace. The engine writes the gateway as the container's nameserver and implements ``Names``.

A name of the network is answered here (A, AAAA, PTR; other types NODATA). Everything else is
forwarded to the upstream resolvers from berthd's own namespace, so the container never needs to reach
the host's resolver (a private address on these machines) and loopback resolvers such as systemd's
127.0.0.53 work too, which they could not from inside a container.

    server = EmbeddedDNS(names)
    await server.open("mynet", "172.31.0.1")   # UDP and TCP on 172.31.0.1:53
    await server.close("mynet")
"""

from __future__ import annotations

import asyncio
import copy
import errno
import ipaddress
import logging
import struct
from dataclasses import dataclass
from typing import Protocol, cast

import dns.asyncquery
import dns.entropy
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

log = logging.getLogger("berthd.dns")

TTL = 600  # Docker's, for the names of a network
TCP_IDLE_SECONDS = 10.0
MAX_FORWARDING = 1024  # queries forwarded at once, all networks together: each holds one of berthd's sockets
_UDP_LIMIT = 512  # RFC 1035's, for clients without EDNS
_TCP_LIMIT = 65535
_BIND_ATTEMPTS = 8  # port 0: UDP picks the port, TCP may find it taken
_CLOSE_SECONDS = 2.0
_HEADER = struct.Struct("!HH")  # id and flags, the start of the 12-byte header
_LENGTH = struct.Struct("!H")  # TCP framing
_OPCODE_BITS = 0x7800
_REVERSE_ZONES = (dns.reversename.ipv4_reverse_domain, dns.reversename.ipv6_reverse_domain)
# what one upstream can do wrong: time out, refuse, reset, answer garbage, be no address at all
_UPSTREAM_ERRORS = (dns.exception.DNSException, OSError, EOFError, ValueError)


class Names(Protocol):
    """The engine's side: which names a network has, as one of its containers sees them.

    ``scope`` is the network (as given to ``EmbeddedDNS.open``), ``client`` the querying container's
    source IP, so that links and aliases can differ per container. Calls come from the event loop and
    must not block."""

    def resolve(self, scope: str, client: str, name: str, family: int) -> list[str] | None:
        """Addresses of ``name`` (already lower-cased, without the trailing dot) as seen by the
        container at ``client`` (its source IP) on network ``scope``, for family 4 (A) or 6 (AAAA).
        None: not a name of this network (forward the query upstream); []: a known name without an
        address of that family (answer NOERROR with no records: NODATA, never forward)."""
        ...

    def reverse(self, scope: str, client: str, address: str) -> str | None:
        """The name for a PTR query of ``address`` (an IP string) on that network, or None (forward)."""
        ...

    def upstreams(self, scope: str, client: str) -> list[str]:
        """The resolvers to forward other names to (IP strings, port 53), in order; none (an internal
        network) answers SERVFAIL."""
        ...


@dataclass(slots=True)
class _Forward:
    """A parsed query that berthd cannot answer itself."""

    query: dns.message.Message


class EmbeddedDNS:
    """The DNS servers of every network, one listener (UDP and TCP on one address and port) each."""

    def __init__(self, names: Names, *, timeout: float = 2.0, upstream_port: int = 53) -> None:
        self._names = names
        self._timeout = timeout  # per upstream, per transport
        self._upstream_port = upstream_port
        self._listeners: dict[str, _Listener] = {}
        self._lock = asyncio.Lock()  # open and close await: keep each scope's changes whole
        self._forwarding = 0

    async def open(self, scope: str, address: str, port: int = 53) -> None:
        """Listens on ``address:port`` (UDP and TCP) for network ``scope``; raises OSError when it cannot
        bind. Already open at that address (and port, unless 0 is asked): nothing to do; open elsewhere:
        the old listener is closed first."""
        async with self._lock:
            current = self._listeners.get(scope)
            if current is not None:
                if current.address == address and port in (0, current.port):
                    return
                del self._listeners[scope]
                await current.close()
            listener = _Listener(self, scope, address)
            await listener.open(port)
            self._listeners[scope] = listener

    async def close(self, scope: str) -> None:
        """Stops answering for ``scope``: sockets, connections and forwarded queries. Idempotent."""
        async with self._lock:
            listener = self._listeners.pop(scope, None)
            if listener is not None:
                await listener.close()

    async def close_all(self) -> None:
        for scope in list(self._listeners):
            await self.close(scope)

    def listening(self, scope: str) -> tuple[str, int] | None:
        """The bound address and port of ``scope`` (the kernel's choice when 0 was asked), or None."""
        listener = self._listeners.get(scope)
        return None if listener is None else (listener.address, listener.port)

    # -- one query --------------------------------------------------------------------------------

    def _handle(self, scope: str, client: str, wire: bytes, *, tcp: bool) -> bytes | _Forward | None:
        """The reply to one query in wire form, the parsed query when it must be forwarded, or None to
        drop it. Never raises."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # dnspython raises many kinds for bad input: all the client's fault
            return _formerr(wire)
        if query.flags & dns.flags.QR:
            return None  # a response sent to a server: answering could loop between two of them
        try:
            reply = self._lookup(scope, client, query)
        except Exception:
            log.exception("dns: answering %s on %s", _asked(query), scope)
            reply = _failure(query, dns.rcode.SERVFAIL)
        return _Forward(query) if reply is None else _render(query, reply, tcp)

    def _lookup(self, scope: str, client: str, query: dns.message.Message) -> dns.message.Message | None:
        """berthd's own reply to a parsed query, or None when it is for the upstreams."""
        if query.opcode() != dns.opcode.QUERY:
            return _failure(query, dns.rcode.NOTIMP)
        if len(query.question) != 1:
            return _failure(query, dns.rcode.FORMERR)
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN:
            return _failure(query, dns.rcode.REFUSED)
        qname, rdtype = question.name, question.rdtype
        if rdtype == dns.rdatatype.PTR and any(qname.is_subdomain(zone) for zone in _REVERSE_ZONES):
            return self._lookup_reverse(scope, client, query, qname)
        name = qname.to_text(omit_final_dot=True).lower()
        if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            addresses = self._names.resolve(scope, client, name, 4 if rdtype == dns.rdatatype.A else 6)
            if addresses is None:
                return None
            reply = _reply(query)
            if addresses:  # the engine's order: it rotates them for round-robin
                reply.answer.append(
                    dns.rrset.from_text_list(qname, TTL, dns.rdataclass.IN, rdtype, addresses)
                )
            return reply
        if any(self._names.resolve(scope, client, name, family) is not None for family in (4, 6)):
            return _reply(query)  # NODATA: upstream would say the name does not exist
        return None

    def _lookup_reverse(
        self, scope: str, client: str, query: dns.message.Message, qname: dns.name.Name
    ) -> dns.message.Message | None:
        try:
            address = str(ipaddress.ip_address(dns.reversename.to_address(qname)))
        except (dns.exception.DNSException, ValueError):
            return None  # a partial name (a zone such as 17.172.in-addr.arpa): upstream's business
        target = self._names.reverse(scope, client, address)
        if target is None:
            return None
        reply = _reply(query)
        ptr = target.rstrip(".") + "."
        reply.answer.append(dns.rrset.from_text_list(qname, TTL, dns.rdataclass.IN, dns.rdatatype.PTR, [ptr]))
        return reply

    async def _forward(self, scope: str, client: str, query: dns.message.Message, *, tcp: bool) -> bytes:
        """The upstreams' reply to ``query``, with its id, for the client's transport; never raises."""
        if self._forwarding >= MAX_FORWARDING:
            return _render(query, _failure(query, dns.rcode.REFUSED), tcp)  # what Docker answers when busy
        self._forwarding += 1
        try:
            reply = await self._ask_upstreams(scope, client, query, tcp)
        except Exception:
            log.exception("dns: forwarding %s on %s", _asked(query), scope)
            reply = None
        finally:
            self._forwarding -= 1
        if reply is None:
            return _render(query, _failure(query, dns.rcode.SERVFAIL), tcp)
        reply.id = query.id
        reply.flags |= dns.flags.RA
        return _render(query, reply, tcp)

    async def _ask_upstreams(
        self, scope: str, client: str, query: dns.message.Message, tcp: bool
    ) -> dns.message.Message | None:
        outgoing = copy.copy(query)  # shares the sections, not the id
        outgoing.id = dns.entropy.random_16()  # a container's ids may be guessable; ours are not
        timeout, port = self._timeout, self._upstream_port
        truncated: dns.message.Message | None = None
        for upstream in self._names.upstreams(scope, client):
            try:
                if tcp:
                    reply = await dns.asyncquery.tcp(outgoing, upstream, timeout, port)
                else:
                    reply = await dns.asyncquery.udp(
                        outgoing, upstream, timeout, port, ignore_unexpected=True
                    )
                    if reply.flags & dns.flags.TC:
                        truncated = reply  # still an answer, if no upstream does TCP
                        reply = await dns.asyncquery.tcp(outgoing, upstream, timeout, port)
            except _UPSTREAM_ERRORS as exc:
                log.debug("dns: upstream %s failed for %s: %r", upstream, _asked(query), exc)
                continue
            if reply.rcode() in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                continue  # that resolver cannot help; the next may (Docker's order)
            return reply
        return truncated


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, listener: _Listener) -> None:
        self.listener = listener
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the selector's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.listener.datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable from a client that left: UDP just drops

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _Listener:
    """One network's sockets, UDP and TCP on one address and port, and the work they started."""

    def __init__(self, server: EmbeddedDNS, scope: str, address: str) -> None:
        self.server, self.scope, self.address = server, scope, address
        self.port = 0
        self._udp: _Udp | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # forwarded UDP queries, TCP connections

    async def open(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(1 if port else _BIND_ATTEMPTS):
            _, udp = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(self.address, port))
            assert udp.transport is not None  # connection_made has run
            bound = int(udp.transport.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._connection, self.address, bound)
            except OSError as exc:
                await _close_udp(udp)
                if port or exc.errno != errno.EADDRINUSE or attempt == _BIND_ATTEMPTS - 1:
                    raise
                continue
            self._udp, self.port = udp, bound
            return

    async def close(self) -> None:
        if self._tcp is not None:
            self._tcp.close()  # the listening socket; its connections are in _tasks
            self._tcp = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=_CLOSE_SECONDS)
        if self._udp is not None:
            await _close_udp(self._udp)  # the port is free again once this returns
            self._udp = None

    def _spawn(self, work: asyncio.Task[None]) -> None:
        self._tasks.add(work)  # referenced until done: the loop keeps tasks only weakly
        work.add_done_callback(self._tasks.discard)

    def datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        outcome = self.server._handle(self.scope, _host(addr), data, tcp=False)
        if isinstance(outcome, _Forward):
            self._spawn(asyncio.get_running_loop().create_task(self._forward_udp(outcome.query, addr)))
        elif outcome is not None:
            self._send(outcome, addr)

    async def _forward_udp(self, query: dns.message.Message, addr: tuple[str, int]) -> None:
        self._send(await self.server._forward(self.scope, _host(addr), query, tcp=False), addr)

    def _send(self, wire: bytes, addr: tuple[str, int]) -> None:
        transport = self._udp.transport if self._udp is not None else None
        if transport is not None and not transport.is_closing():
            transport.sendto(wire, addr)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One TCP client: length-framed queries answered in order until it goes or idles."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        client = _host(writer.get_extra_info("peername"))
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_SECONDS):
                    (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
                    wire = await reader.readexactly(size)
                outcome = self.server._handle(self.scope, client, wire, tcp=True)
                if isinstance(outcome, _Forward):
                    outcome = await self.server._forward(self.scope, client, outcome.query, tcp=True)
                if outcome is not None:
                    writer.write(_LENGTH.pack(len(outcome)) + outcome)
                    async with asyncio.timeout(TCP_IDLE_SECONDS):
                        await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # idle, gone or reset: the connection ends here
        except Exception:
            log.exception("dns: TCP client %s on %s", client, self.scope)
        finally:
            writer.close()
            if task is not None:
                self._tasks.discard(task)


async def _close_udp(udp: _Udp) -> None:
    if udp.transport is not None:
        udp.transport.close()
    # the socket closes on a later loop turn: wait, so that the port can be bound again at once
    await asyncio.wait_for(asyncio.shield(udp.closed), _CLOSE_SECONDS)


def _host(addr: tuple[str, int] | tuple[str, int, int, int]) -> str:
    return addr[0].partition("%")[0]  # an IPv6 peer's zone is no part of its address


def _asked(query: dns.message.Message) -> str:
    """The question, for logs: ``web. A``."""
    if not query.question:
        return "(no question)"
    question = query.question[0]
    return f"{question.name} {dns.rdatatype.to_text(question.rdtype)}"


def _reply(query: dns.message.Message) -> dns.message.Message:
    return dns.message.make_response(query, recursion_available=True)


def _failure(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    reply = _reply(query)
    reply.set_rcode(rcode)
    return reply


def _formerr(wire: bytes) -> bytes | None:
    """FORMERR for a packet whose header parses, with its id; None (drop it) for anything shorter."""
    if len(wire) < 12:
        return None
    query_id, flags = _HEADER.unpack_from(wire)
    if flags & dns.flags.QR:
        return None
    reply = dns.message.Message(id=query_id)
    reply.flags = dns.flags.QR | dns.flags.RA | (flags & (dns.flags.RD | _OPCODE_BITS))
    reply.set_rcode(dns.rcode.FORMERR)
    return reply.to_wire()


def _render(query: dns.message.Message, reply: dns.message.Message, tcp: bool) -> bytes:
    """``reply`` in wire form within what the client takes. Too big for UDP: the whole RRsets that fit
    and TC (dnspython's ``prefer_truncation``: never a partial RRset; only the additional section
    cut, as RFC 2181 allows without TC). The question always stays: clients match replies by it."""
    limit = _TCP_LIMIT if tcp else max(_UDP_LIMIT, query.payload)  # the payload is 0 without EDNS
    # dnspython shuffles each RRset's records by default: keep the engine's round-robin, and upstream's
    # (dnspython annotates its **kw as Dict[str, Any], each keyword a dict: hence the ignore)
    return reply.to_wire(max_size=limit, prefer_truncation=True, want_shuffle=False)  # type: ignore[arg-type]
