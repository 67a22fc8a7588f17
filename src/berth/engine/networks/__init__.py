"""Networks: ``NetworkService`` (``service.py``: bridges, endpoints, addresses, /etc/hosts) and the
published ports it keeps (``ports.py``, ``PublishedPorts``).

May import: engine.containers.container, network (the kernel side), errors, util.
"""
