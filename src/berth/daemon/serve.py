"""berthd serving: build the services, restore containers, serve the API until a signal (``main.py`` starts it)."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import logging.handlers
import os
import signal
import socket
import ssl
import sys
from pathlib import Path

from aiohttp import web

from berth.daemon.config import DaemonConfig, metrics_address
from berth.daemon.server.app import make_app
from berth.daemon.tls import TLSSite
from berth.daemon.wiring import Services, build_services
from berth.errors import InvalidArgument

log = logging.getLogger("berthd")

_LOG_FILE_SIZE = 10 * 1024 * 1024
_LOG_FILES = 3


def _setup_logging(config: DaemonConfig) -> None:
    level = getattr(logging, config.log_level.upper())
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(fmt)
    handlers: list[logging.Handler] = [stderr]
    # A rotating copy under exec-root: a daemon run for months never fills the disk with its log.
    rotating = logging.handlers.RotatingFileHandler(
        config.exec_root / "berthd.log", maxBytes=_LOG_FILE_SIZE, backupCount=_LOG_FILES
    )
    rotating.setFormatter(fmt)
    handlers.append(rotating)
    logging.basicConfig(level=level, handlers=handlers, force=True)


def _ssl_context(config: DaemonConfig) -> ssl.SSLContext | None:
    if not (config.tlscert and config.tlskey):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:  # unreadable or mismatched files: one clear line at start-up, not a traceback
        ctx.load_cert_chain(config.tlscert, config.tlskey)
        if config.tlsverify:
            if not config.tlscacert:
                raise InvalidArgument("--tlsverify needs --tlscacert")
            ctx.load_verify_locations(config.tlscacert)
            # mutual TLS: a client without a certificate signed by this CA fails the handshake
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgument(f"loading TLS certificates: {exc}") from exc
    return ctx


def _unix_socket(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o660)
    with contextlib.suppress(KeyError):  # no berth group on this host: root only
        os.chown(path, 0, grp.getgrnam("berth").gr_gid)
    return sock


_FIREWALL_CHECK_SECONDS = 5.0


async def _keep_firewall(services: Services) -> None:
    """Berth's nftables table is made again if someone deletes it while berthd runs."""
    while True:
        await asyncio.sleep(_FIREWALL_CHECK_SECONDS)
        try:
            await asyncio.to_thread(services.networks.check_firewall)
        except OSError as exc:
            log.warning("checking the nftables table: %s", exc)


async def _quick_check(services: Services) -> None:
    """The store check at start, without re-hashing blobs: each finding logged, nothing changed."""
    try:
        report = await asyncio.to_thread(services.check.run)
    except (OSError, ValueError) as exc:
        log.warning("store check at start failed: %s", exc)
        return
    for finding in report.findings:
        log.warning("store check: %s", finding.line())
    if report.findings:
        log.warning(
            "store check: %d problems; `berth system check --repair` fixes what it can", len(report.findings)
        )


async def _serve(config: DaemonConfig, services: Services) -> None:
    loop = asyncio.get_running_loop()
    services.events.bind(loop)
    await asyncio.to_thread(services.networks.start_host_networking)  # before restore: NAT and ports
    await services.containers.restore()
    firewall_task = loop.create_task(_keep_firewall(services))
    check_task = loop.create_task(_quick_check(services))  # beside serving: the socket is not held up
    app = make_app(services)
    async with contextlib.AsyncExitStack() as stack:
        if config.metrics_addr:
            # imported only here: prometheus_client costs berthd's start ~20 ms when nobody asked
            from berth.daemon.metrics import serve_metrics

            host, port = metrics_address(config.metrics_addr)
            await stack.enter_async_context(serve_metrics(services, app, host, port))
            log.info("metrics on http://%s:%d/metrics", host, port)
        await _serve_api(config, services, app, firewall_task, check_task)


async def _serve_api(
    config: DaemonConfig,
    services: Services,
    app: web.Application,
    firewall_task: asyncio.Task[None],
    check_task: asyncio.Task[None],
) -> None:
    loop = asyncio.get_running_loop()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    sites: list[web.BaseSite] = []
    tls = _ssl_context(config)
    for host in config.effective_hosts():
        if host.startswith("unix://"):
            sites.append(web.SockSite(runner, _unix_socket(Path(host.removeprefix("unix://")))))
        elif host.startswith("tcp://"):
            address = host.removeprefix("tcp://")
            name, _, port = address.rpartition(":")
            if not config.tlsverify:  # only reachable with --insecure-tcp (config._check_tls refuses it)
                log.warning(
                    "API listening on %s without TLS client verification (--insecure-tcp): anyone who "
                    "reaches it controls this host",
                    host,
                )
            addr, number = name.strip("[]") or "127.0.0.1", int(port or 2375)
            # TLSSite: asyncio's TLS, plus the half-close docker's attach/exec send (see berth.daemon.tls)
            sites.append(TLSSite(runner, addr, number, tls) if tls else web.TCPSite(runner, addr, number))
        else:
            raise InvalidArgument(f"invalid host {host!r}: use unix:///path or tcp://HOST:PORT")
    for site in sites:
        await site.start()
    log.info("berthd serving on %s", ", ".join(config.effective_hosts()))
    loop.run_in_executor(None, services.networks.prewarm)  # the DNS server's imports, while idle
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with services.containers.running():
            await stop.wait()
    finally:
        log.info("berthd stopping; running containers keep running (live restore)")
        firewall_task.cancel()
        check_task.cancel()  # its thread finishes reading; nothing is written by it
        await runner.cleanup()
        await services.networks.close_dns()
        services.pull.close()
        for host in config.effective_hosts():
            if host.startswith("unix://"):
                with contextlib.suppress(FileNotFoundError):
                    Path(host.removeprefix("unix://")).unlink()


def run(config: DaemonConfig) -> None:
    """Serve until SIGTERM or SIGINT (raises BerthError for a start that cannot be)."""
    _setup_logging(config)
    services = build_services(config)
    asyncio.run(_serve(config, services))
