"""Registry accounts: users (bcrypt passwords), organisations, teams and their repository grants,
and organisations' robot accounts (``robots.py``).

May import: berth.errors, bcrypt, and ``berth.registry.metadata`` (the tables live there).
Entry points: ``service.AccountService``, ``robots.RobotStore``.
"""
