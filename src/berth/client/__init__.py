"""Berth's API client: a small HTTP/1.1 client over unix, tcp and TLS sockets, and ``APIClient``.

May import: berth.api, berth.oci, berth.errors and the standard library; never a heavy HTTP library
(the CLI's start-up budget is a few milliseconds: see ``http`` for what is implemented).
Entry points: ``api.APIClient``, ``api.APIError``, ``hosts.parse_host``, ``http.Connection``.
"""
