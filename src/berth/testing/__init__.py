"""Throwaway Berth daemons for tests and benchmarks: a real berthd on a temporary root and socket.

May import: the standard library only (it drives the installed ``berthd``/``berth`` programs).
Entry points: ``daemon.start_daemon``, ``daemon.cleanup_daemon``, ``daemon.Daemon``.
"""
