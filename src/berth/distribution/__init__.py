"""The registry *client* side of berthd: name → endpoints, token/Basic auth, the OCI distribution protocol.

May import: berth.oci, berth.errors, berth.util (never engine, store, daemon or registry).
Entry points: ``resolver.RegistryResolver``, ``auth.Credentials``, ``client.RegistryClient``,
``service.RegistryService`` (login, search), ``tls.client_factory`` (certs.d CAs); the pull and push use
cases built on it live in ``berth.engine.images.pull`` / ``berth.engine.images.push``.
"""
