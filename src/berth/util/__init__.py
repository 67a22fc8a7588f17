"""Small leaf helpers: atomic files, filesystem walks, locks.

May import: the standard library only (never another berth package).
Entry points: ``atomic.write_json``, ``atomic.write_bytes``.
"""
