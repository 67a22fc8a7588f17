"""Local image storage: content-addressed blobs, snapshots (overlayfs layers), metadata, layer unpacking.

May import: berth.oci, berth.errors, berth.util (never the runtime, engine or daemon).
Entry points: ``content.LocalContentStore``, ``snapshots.OverlaySnapshotter``, ``metadata.ImageIndex``,
``unpack.apply_layer``, ``archive.write_archive`` / ``archive.read_archive``.
"""
