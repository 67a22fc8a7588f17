"""Use cases the API routes call: containers, images, events. Knows Docker's semantics, not HTTP.

May import: berth.store, berth.runtime, berth.distribution, berth.oci, berth.errors, berth.util.
Entry points: ``containers.ContainerService``, ``images.ImageService``, ``events.EventBus``.
"""
