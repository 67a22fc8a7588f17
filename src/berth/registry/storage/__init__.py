"""Blob storage for the registry: a small, filesystem-like driver interface and its implementations.

May import: berth.errors, the standard library and boto3 (s3 only; nothing registry-specific: drivers know no
manifests).
Entry points: ``driver.StorageDriver``, ``filesystem.FilesystemDriver``, ``inmemory.InMemoryDriver``, ``s3.S3Driver``,
``paths``.
"""
