"""Pure OCI and Docker data types: references, digests, descriptors, media types. No I/O.

May import: berth.errors, the standard library.
Entry points: ``reference.parse``, ``digest.Digest``, ``mediatypes``.
"""
