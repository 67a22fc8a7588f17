"""berth-registry: an OCI distribution registry with accounts, private repositories, search and a web page.

May import: berth.oci, berth.errors, berth.util and third-party libraries (never daemon/engine/store/runtime).
Entry points: ``main.main`` (the CLI), ``app.build_app`` (the aiohttp application), ``service.Registry``.
"""
