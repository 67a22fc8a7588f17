"""HTTP handlers of berth-registry, one module per resource, plus the dispatcher that authenticates,
authorises and maps errors once.

May import: aiohttp, berth.oci, berth.errors and the registry's services.
Entry points: ``dispatch.handle_v2``, ``token.handle_token``, ``search.routes``, ``web.routes``.
"""
