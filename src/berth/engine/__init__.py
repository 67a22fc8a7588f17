"""Use cases the API routes call, one package per concept. Knows Docker's semantics, not HTTP.

May import: berth.store, berth.runtime, berth.network, berth.distribution, berth.oci, berth.errors, berth.util.
Entry points: ``containers`` (ContainerService, ExecService), ``images`` (ImageService, pull, push),
``networks`` (NetworkService), ``volumes`` (VolumeService), ``builder`` (the Dockerfile builder),
``events`` (EventBus).
"""
