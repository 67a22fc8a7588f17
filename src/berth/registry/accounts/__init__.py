"""Registry accounts: users (bcrypt passwords), organisations, teams and their repository grants.

May import: berth.errors, bcrypt, and ``berth.registry.metadata`` (the tables live there).
Entry points: ``service.AccountService``.
"""
