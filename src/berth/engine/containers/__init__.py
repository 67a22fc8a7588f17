"""Containers: Docker's container verbs — ``ContainerService`` (``service.py``) and ``ExecService`` (``execs.py``).

May import: engine.images, engine.networks, engine.volumes, engine.events, runtime, store, oci, errors, util.
Modules: ``container`` (the record and its states), ``create`` (a create body → a record), ``spec`` (a
record → the OCI spec), ``health``, ``logs``, ``stats``, ``archive`` (cp/export), ``commit``, ``names``.
"""
