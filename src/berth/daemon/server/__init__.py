"""The Docker Engine API over HTTP (aiohttp): version prefixes, error mapping, hijacked streams.

May import: berth.engine, berth.api, berth.oci, berth.errors (never the runtime or stores directly).
Entry points: ``app.make_app``, ``router.ApiRouter``, ``hijack.hijack``.
"""
