"""Host networking for containers: the kernel side of Docker's bridge networks.

    netns.py    a container's network namespace, made ahead of its init and kept by a bind mount
    links.py    bridges and veth pairs through netlink (pyroute2)
    ipam.py     subnets for new networks, addresses for containers (pure functions)
    proxy.py    published ports: TCP relays from host ports to container addresses
    dns.py      the embedded DNS server on each network's gateway: its names, the rest forwarded

``engine/networks/`` decides which container gets what; these modules only do it.
"""
