"""berthd: the daemon — flags and config, the one composition root, and the Docker Engine API server.

May import: berth.engine, berth.store, berth.runtime, berth.api, berth.oci, berth.errors, berth.util.
Entry points: ``main.main`` (console script), ``wiring.build_services``, ``server.app.make_app``.
"""
