"""Blob storage for the registry: a small, filesystem-like driver interface and its implementations.

May import: berth.errors and the standard library (nothing registry-specific: drivers know no manifests).
Entry points: ``driver.StorageDriver``, ``filesystem.FilesystemDriver``, ``inmemory.InMemoryDriver``,
``paths``.
"""
