"""Berth: a hackable container engine — daemon (berthd), CLI (berth), OCI runtime and registry.

Layers, top to bottom (imports point only downward; import-linter checks it):

    cli ──▶ client ──▶ api ──▶ oci ──▶ errors, util
    daemon ──▶ engine ──▶ {store, runtime} ──▶ oci ──▶ errors, util
    registry ──▶ oci ──▶ errors, util       (a separate program)
"""

__version__ = "0.1.0"
