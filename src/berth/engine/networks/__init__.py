"""Networks: ``NetworkService`` (``service.py``: bridges, endpoints, addresses, /etc/hosts) and the
published ports it keeps (``ports.py``, ``PublishedPorts``); the checks of a container's network
fields at create (``settings.py``) and of a network create request (``create_request.py``); legacy
links (``legacy_links.py``).

May import: engine.containers.container and .create, network (the kernel side), errors, util.
"""
