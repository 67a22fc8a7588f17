"""Who may do what: Docker token auth (JWT), Basic auth, scopes, and the access policy.

May import: berth.errors, pyjwt, cryptography, ``berth.registry.accounts`` and ``repositories``.
Entry points: ``acl.AccessPolicy``, ``tokens.TokenIssuer``, ``scope.parse_scopes``, ``basic.parse_basic``.
"""
