"""``berth``, the command-line client: global flags, one module per command group, output formats.

May import: berth.client, berth.api, berth.oci, berth.errors (never the daemon side).
Entry points: ``main.main`` (console script), ``template`` (Go templates), ``format`` (tables, sizes).
"""
