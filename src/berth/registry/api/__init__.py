"""The distribution HTTP API as data: OCI error codes with their statuses, and the /v2/ route table.

May import: berth.errors, berth.oci, aiohttp.
Entry points: ``errors.RegistryError``, ``errors.error_response``, ``routes.ROUTES``, ``routes.match``.
"""
