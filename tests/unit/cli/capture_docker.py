"""Capture what the real docker CLI sends, for the CLI tests to compare berth against.

    .venv/bin/python -m tests.unit.cli.capture_docker      # needs the docker CLI (28.2.2 here)

Runs ``docker ARGV`` against the stub daemon (tests/unit/client/stubdaemon.py: a real HTTP server on
a unix socket that records every request) and writes:

- ``docker_create_bodies.json``: ``POST /containers/create`` bodies and query for ``docker create``
  (``detach`` false) or ``docker run -d`` (``detach`` true), one case per flag family;
- ``docker_requests.json``: every request of the other commands (``exec``, ``update``, ``network
  create|connect``, ``volume create``, ``rm``, ``kill``, ``stop``, ``restart``);
- ``docker_errors.json``: the flags docker refuses client-side: stderr, exit code, and whether any
  request reached the daemon.

The stub answers as a daemon that has everything (containers exist and run, creates succeed), so
only the client's own behaviour is recorded. Paths in argv that start with ``@TMP`` are replaced by a
scratch directory made for the run (written back as ``@TMP`` so the files are stable).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from tests.unit.client.stubdaemon import Reply, Request, StubDaemon, json_reply

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER_ID = "c0" * 32
EXEC_ID = "e1" * 32
NETWORK_ID = "a5" * 32

# (argv after "docker create" / "docker run -d", detach)
CREATE_CASES: list[tuple[list[str], bool]] = [
    (["--mount", "type=bind,source=/src,target=/dst,readonly", "busybox"], False),
    (
        [
            "--mount",
            "type=bind,src=/src,dst=/dst,bind-propagation=rprivate,readonly,bind-recursive=readonly",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--mount",
            "type=bind,src=/src,dst=/dst,bind-propagation=rshared,bind-recursive=disabled",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--mount",
            "type=volume,source=vol,target=/data,volume-nocopy,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=a=b,volume-subpath=sub",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",
            "--mount",
            "target=/anon",
            "busybox",
        ],
        False,
    ),
    (["--mount", "type=bind,source=/src,target=/dst,consistency=cached,bind-nonrecursive", "busybox"], False),
    (["--mount", "type=image,source=busybox,target=/img,image-subpath=bin", "busybox"], False),
    (
        [
            "--mount",
            "type=volume,target=/x,volume-nocopy",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-mode=700",
            "--mount",
            "type=bind,src=/a,target=/b,readonly=TRUE,bind-propagation=private",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--mount",
            "type=volume,src=v,target=/x,volume-driver=local,ro=1",
            "--mount",
            "type=volume,src=w,target=/y,volume-opt=o=1",
            "--mount",
            "type=volume,source=./rel,target=/z,readonly=false",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--mount",
            '"type=bind","src=/a,b",target=/c',
            "--mount",
            "Type=BIND,SRC=/a,Target=/d,bind-recursive=enabled",
            "busybox",
        ],
        False,
    ),
    (["--mount", "type=npipe,src=/a,target=/b", "--mount", "type=cluster,src=a,target=/b", "busybox"], False),
    (["--volumes-from", "other", "--volumes-from", "third:ro", "--volume-driver", "local", "busybox"], False),
    (
        [
            "--device",
            "/dev/null",
            "--device",
            "/dev/zero:/dev/z",
            "--device",
            "/dev/full:/dev/f:r",
            "--device-cgroup-rule",
            "c 1:3 mr",
            "--device-cgroup-rule",
            "b *:* rwm",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--device-read-bps",
            "/dev/sda:1mb",
            "--device-write-bps",
            "/dev/sda:2048",
            "--device-read-iops",
            "/dev/sda:100",
            "--device-write-iops",
            "/dev/sdb:200",
            "busybox",
        ],
        False,
    ),
    (["--blkio-weight", "300", "--blkio-weight-device", "/dev/sda:200", "busybox"], False),
    (["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=100", "busybox"], False),
    (["--group-add", "audio", "--group-add", "1000", "busybox"], False),
    (
        [
            "--memory-reservation",
            "32m",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "--oom-score-adj",
            "100",
            "--kernel-memory",
            "10m",
            "busybox",
        ],
        False,
    ),
    (["--memory-swappiness", "0", "-m", "64m", "busybox"], False),
    (
        [
            "--cpuset-cpus",
            "0",
            "--cpuset-mems",
            "0",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "--cpu-rt-period",
            "1000",
            "--cpu-rt-runtime",
            "500",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--cpu-count",
            "2",
            "--cpu-percent",
            "50",
            "--io-maxbandwidth",
            "1m",
            "--io-maxiops",
            "100",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--pid",
            "host",
            "--ipc",
            "host",
            "--uts",
            "host",
            "--cgroupns",
            "private",
            "--userns",
            "host",
            "busybox",
        ],
        False,
    ),
    (["--pid", "container:other", "--ipc", "shareable", "--cgroupns", "host", "busybox"], False),
    (
        [
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "kernel.shmmax=1000",
            "--domainname",
            "example.com",
            "busybox",
        ],
        False,
    ),
    (["--mac-address", "92:d0:c6:0a:29:33", "busybox"], False),
    (
        [
            "--mac-address",
            "92:d0:c6:0a:29:33",
            "--network",
            "mynet",
            "--ip",
            "10.1.0.5",
            "--ip6",
            "2001:db8::33",
            "--link-local-ip",
            "169.254.1.1",
            "--network-alias",
            "a",
            "busybox",
        ],
        False,
    ),
    (["--link", "other:alias", "--link", "third", "busybox"], False),
    (["--ip", "172.17.0.5", "--ip6", "fd00::5", "--link-local-ip", "169.254.0.9", "busybox"], False),
    (["--network", "bridge", "--link", "a:b", "--mac-address", "92:d0:c6:0a:29:34", "busybox"], False),
    (["--network", "container:other", "busybox"], False),
    (["--network", "mynet", "--network-alias", "x", "--network-alias", "y", "busybox"], False),
    (["--network", "mynet", "--mac-address", "92:d0:c6:0a:29:35", "busybox"], False),
    (
        [
            "--net",
            "name=mynet,mac-address=92:d0:c6:0a:29:36,ip6=fd00::7,link-local-ip=169.254.0.7,alias=q",
            "busybox",
        ],
        False,
    ),
    (["--link", "other:alias", "--network", "mynet", "busybox"], False),
    (["--network", "mynet", "--ip", "10.1.0.5", "busybox"], False),
    (
        [
            "--network",
            "name=mynet,alias=x,ip=10.1.0.6,driver-opt=a=b,gw-priority=5",
            "--network",
            "other",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "apparmor=unconfined",
            "--security-opt",
            "label=disable",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--security-opt",
            "seccomp=@TMP/seccomp.json",
            "--security-opt",
            "systempaths=unconfined",
            "busybox",
        ],
        False,
    ),
    (
        [
            "--security-opt",
            "no-new-privileges=true",
            "--security-opt",
            "seccomp=builtin",
            "--security-opt",
            "writable-cgroups=true",
            "busybox",
        ],
        False,
    ),
    (["--log-driver", "json-file", "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "busybox"], False),
    (["--storage-opt", "size=1G", "busybox"], False),
    (["--gpus", "all", "busybox"], False),
    (["--gpus", "2", "busybox"], False),
    (["--gpus", '"device=0,1",capabilities=compute,driver=nvidia', "busybox"], False),
    (["--cidfile", "@TMP/cid", "busybox"], False),
    (
        [
            "--runtime",
            "runc",
            "--annotation",
            "a=b",
            "--annotation",
            "c.d=e",
            "--isolation",
            "default",
            "busybox",
        ],
        False,
    ),
    (["-q", "--disable-content-trust", "busybox"], False),
    (["--health-cmd", "true", "--health-start-interval", "2s", "--health-retries", "3", "busybox"], False),
    (["--label-file", "@TMP/labels", "-l", "z=1", "busybox"], False),
    (["--platform", "linux/amd64", "busybox"], False),
    (["-a", "stdout", "-a", "stdin", "busybox"], False),
    (["-a", "stderr", "busybox"], False),
    (["-e", "FROM_HOST", "-e", "UNSET_VAR", "-e", "X=1", "busybox"], False),
    (["--rm=false", "--privileged=true", "--init=false", "busybox"], False),
    (["--health-start-interval", "2s", "--health-timeout", "0s", "busybox"], False),
    (["--health-cmd", "", "--health-interval", "1s", "busybox"], False),
    (["--entrypoint", "", "busybox"], False),
    (["--stop-signal", "9", "--stop-timeout", "0", "busybox"], False),
    (["--tmpfs", "/run", "--tmpfs", "/t:rw,size=1m,mode=1777", "-v", "/a:/b:rw,z", "busybox"], False),
    (["--shm-size", "128m", "--cgroup-parent", "/custom", "--pids-limit", "-1", "busybox"], False),
    (
        [
            "--dns-option",
            "ndots:2",
            "--dns-search",
            "example.com",
            "--add-host",
            "h:1.2.3.4",
            "--add-host",
            "g=::1",
            "busybox",
        ],
        False,
    ),
    (["--use-api-socket", "busybox"], False),
    (["--network", "host", "--publish-all", "--expose", "1000-1002/udp", "busybox"], False),
    (["--ulimit", "nofile=1024", "--sig-proxy=false", "--detach-keys", "ctrl-a", "busybox"], True),
    (["--volume", "/x:/y:ro", "--rm", "--name", "n1", "busybox", "sleep", "1"], True),
]

# argv after "docker" -> every request it sends
REQUEST_CASES: list[list[str]] = [
    ["exec", "ctr", "ls", "-l"],
    ["exec", "-d", "ctr", "sleep", "5"],
    [
        "exec",
        "-i",
        "-e",
        "A=1",
        "-e",
        "FROM_HOST",
        "--env-file",
        "@TMP/env",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "--privileged",
        "ctr",
        "env",
    ],
    ["exec", "--detach-keys", "ctrl-x", "-d", "ctr", "true"],
    ["update", "--cpu-shares", "512", "--memory", "64m", "--memory-swap", "128m", "ctr"],
    [
        "update",
        "--blkio-weight",
        "300",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        "--cpu-rt-period",
        "1000",
        "--cpu-rt-runtime",
        "500",
        "--cpus",
        "0.5",
        "ctr",
    ],
    [
        "update",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "--memory-reservation",
        "32m",
        "--pids-limit",
        "50",
        "--restart",
        "on-failure:2",
        "ctr",
        "other",
    ],
    ["update", "--pids-limit", "-1", "--memory-swap", "-1", "ctr"],
    ["update", "--restart", "always", "ctr"],
    ["network", "create", "plain"],
    [
        "network",
        "create",
        "-d",
        "bridge",
        "--subnet",
        "10.9.0.0/24",
        "--ip-range",
        "10.9.0.128/25",
        "--gateway",
        "10.9.0.1",
        "--aux-address",
        "host1=10.9.0.2",
        "--ipam-driver",
        "default",
        "--ipam-opt",
        "a=b",
        "-o",
        "com.docker.network.bridge.name=br9",
        "--label",
        "k=v",
        "--internal",
        "--attachable",
        "n1",
    ],
    [
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.9.1.0/24",
        "--subnet",
        "fd00:9::/64",
        "--gateway",
        "fd00:9::1",
        "n2",
    ],
    ["network", "create", "--ipv4=false", "--ipv6", "n3"],
    ["network", "create", "--config-only", "--subnet", "10.9.2.0/24", "--scope", "local", "n4"],
    ["network", "create", "--config-from", "n4", "n5"],
    ["network", "create", "--ingress", "-d", "overlay", "n6"],
    ["network", "connect", "mynet", "ctr"],
    [
        "network",
        "connect",
        "--alias",
        "a1",
        "--alias",
        "a2",
        "--ip",
        "10.9.0.5",
        "--ip6",
        "fd00:9::5",
        "--link",
        "other:o",
        "--link-local-ip",
        "169.254.0.5",
        "--driver-opt",
        "x=y",
        "--gw-priority",
        "3",
        "mynet",
        "ctr",
    ],
    ["volume", "create"],
    ["volume", "create", "v1"],
    [
        "volume",
        "create",
        "--name",
        "v2",
        "-d",
        "local",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "--label",
        "k=v",
        "--label",
        "x",
    ],
    [
        "volume",
        "create",
        "--type",
        "mount",
        "--sharing",
        "all",
        "--scope",
        "multi",
        "--group",
        "g",
        "--availability",
        "pause",
        "--limit-bytes",
        "1m",
        "--required-bytes",
        "1k",
        "--secret",
        "a=b",
        "--topology-required",
        "region=r1",
        "--topology-preferred",
        "zone=z1",
        "cv",
    ],
    ["rm", "ctr"],
    ["rm", "-f", "-v", "ctr", "other"],
    ["rm", "-l", "ctr/alias"],
    ["kill", "ctr"],
    ["kill", "-s", "HUP", "ctr"],
    ["kill", "--signal", "9", "ctr", "other"],
    ["stop", "ctr"],
    ["stop", "-s", "SIGINT", "-t", "3", "ctr"],
    ["stop", "--timeout", "0", "ctr"],
    ["restart", "ctr"],
    ["restart", "-s", "USR1", "-t", "1", "ctr"],
]

# argv after "docker" that docker refuses before (or instead of) creating
ERROR_CASES: list[list[str]] = [
    ["create", "--restart", "bogus", "busybox"],
    ["create", "--network-alias", "a", "busybox"],
    ["create", "--network", "none", "--network-alias", "a", "busybox"],
    ["create", "--network", "name=,alias=a", "busybox"],
    ["create", "--network", "name=a,gw-priority=x", "busybox"],
    ["create", "--network", "name=a,ip=1.2.3.4", "--ip", "1.2.3.5", "busybox"],
    ["create", "--network", "name=a,link=b:c", "--link", "d:e", "busybox"],
    ["create", "--restart", "on-failure:x", "busybox"],
    ["create", "--restart", "always:3", "busybox"],
    ["create", "--restart", ":3", "busybox"],
    ["create", "--mount", "type=bind,target=/x,readonly=yes", "busybox"],
    ["create", "--mount", "type=bind,target=/x,bind-recursive=bogus", "busybox"],
    ["create", "--mount", "type=tmpfs,target=/x,tmpfs-mode=9", "busybox"],
    ["create", "--mount", "type=image,target=/x,volume-nocopy", "busybox"],
    ["create", "--mount", "type=bind,target=/x,image-subpath=a", "busybox"],
    ["create", "--mount", "type=bind,target=/x,tmpfs-size=1m", "busybox"],
    ["create", "--mount", "type=bind,target=/x,bogus", "busybox"],
    ["create", "--mount", "type=,target=/x", "busybox"],
    ["create", "--mount", 'type=bind,"target=/x', "busybox"],
    ["create", "--mount", "type=volume,target=/x,volume-nocopy=maybe", "busybox"],
    ["create", "--mount", "type=bind,target=/x,bind-nonrecursive=maybe", "busybox"],
    ["create", "--gpus", "count=x", "busybox"],
    ["create", "--gpus", "noequals", "busybox"],
    ["create", "--device", "/dev/a:/dev/b:/dev/c:rw", "busybox"],
    ["create", "--device", "/dev/a*:/dev/b", "busybox"],
    ["create", "--device", ":/dev/b", "busybox"],
    ["create", "--device-read-bps", "/dev/sda:-1", "busybox"],
    ["create", "--device-read-bps", "/dev/sda", "busybox"],
    ["create", "--blkio-weight-device", "sda:100", "busybox"],
    ["create", "--blkio-weight-device", "/dev/sda", "busybox"],
    ["create", "--ulimit", "nofile=-1", "busybox"],
    ["create", "--ulimit", "nofile=1:2:3", "busybox"],
    ["create", "--group-add", "", "busybox"],
    ["create", "--sysctl", "=1", "busybox"],
    ["create", "--link", "", "busybox"],
    ["create", "--link", "a:", "busybox"],
    ["create", "--oom-score-adj", "x", "busybox"],
    ["create", "--memory-swap", "-2", "busybox"],
    ["create", "--memory", "-1", "busybox"],
    ["create", "--memory", "1.5kb", "busybox"],
    ["create", "--shm-size", "1ibb", "busybox"],
    ["create", "--cpus", "-1", "busybox"],
    ["create", "--cpus", "1/2", "busybox"],
    ["create", "--pids-limit", "x", "busybox"],
    ["create", "--io-maxiops", "-1", "busybox"],
    ["create", "--network", "host", "--network-alias", "a", "busybox"],
    ["create", "--network", "bridge", "--link", "a:b", "--network", "mynet", "busybox"],
    ["create", "--network", "mynet", "--network", "mynet", "busybox"],
    ["create", "--network", "name=a,alias=x", "--network-alias", "y", "busybox"],
    ["create", "--network", "bogus=1", "busybox"],
    ["create", "--network", "host", "--network", "mynet", "busybox"],
    ["create", "--entrypoint", "", "busybox"],
    ["create", "--expose", "1:2", "busybox"],
    ["create", "--expose", "abc", "busybox"],
    ["create", "-p", "abc", "busybox"],
    ["create", "--add-host", "noip", "busybox"],
    ["create", "--add-host", "h:notanip", "busybox"],
    ["create", "--dns", "notanip", "busybox"],
    ["create", "--stop-timeout", "-1", "busybox"],
    ["create", "--volume-driver", "x", "--mount", "type=volume,target=/x", "busybox"],
    ["create", "--log-driver", "none", "--log-opt", "max-size=1m", "busybox"],
    ["create", "--mount", "type=bind,src=/a,dst=/b,bind-recursive=readonly", "busybox"],
    ["create", "--ulimit", "nofile", "busybox"],
    ["create", "--ulimit", "nofile=x", "busybox"],
    ["create", "--ulimit", "bogus=1", "busybox"],
    ["create", "--ulimit", "nofile=2:1", "busybox"],
    ["create", "--device-read-bps", "sda:1mb", "busybox"],
    ["create", "--device-read-bps", "/dev/sda:lots", "busybox"],
    ["create", "--device-write-iops", "/dev/sda:x", "busybox"],
    ["create", "--blkio-weight-device", "/dev/sda:x", "busybox"],
    ["create", "--blkio-weight-device", "/dev/sda:5", "busybox"],
    ["create", "--blkio-weight", "70000", "busybox"],
    ["create", "--device", "relative", "busybox"],
    ["create", "--device", "/dev/null:/dev/x:rwmq", "busybox"],
    ["create", "--device-cgroup-rule", "bogus", "busybox"],
    ["create", "--mount", "type=bogus,target=/x", "busybox"],
    ["create", "--mount", "type=bind,target=/x,readonly=maybe", "busybox"],
    ["create", "--mount", "type=bind,target=/x,bogus=1", "busybox"],
    ["create", "--mount", "source=/x", "busybox"],
    ["create", "--mount", "type=volume,target=/x,bind-propagation=rshared", "busybox"],
    ["create", "--mount", "type=tmpfs,target=/x,tmpfs-size=lots", "busybox"],
    ["create", "--sysctl", "noequals", "busybox"],
    ["create", "--link", "a:b:c", "busybox"],
    ["create", "--mac-address", "zz", "busybox"],
    ["create", "--ip", "bad", "busybox"],
    ["create", "--ip6", "bad", "busybox"],
    ["create", "--link-local-ip", "bad", "busybox"],
    ["create", "--gpus", "bogus=1", "busybox"],
    ["create", "--storage-opt", "noequals", "busybox"],
    ["create", "--log-opt", "noequals", "busybox"],
    ["create", "--annotation", "noequals", "busybox"],
    ["create", "--security-opt", "seccomp=/nonexistent/profile.json", "busybox"],
    ["create", "--security-opt", "bogus", "busybox"],
    ["create", "--pid", "bogus", "busybox"],
    ["create", "--ipc", "bogus", "busybox"],
    ["create", "--uts", "bogus", "busybox"],
    ["create", "--userns", "bogus", "busybox"],
    ["create", "--cgroupns", "bogus", "busybox"],
    ["create", "--memory-swappiness", "101", "busybox"],
    ["create", "--oom-score-adj", "2000", "busybox"],
    ["create", "--memory", "1x", "busybox"],
    ["create", "--memory-reservation", "bad", "busybox"],
    ["create", "--kernel-memory", "bad", "busybox"],
    ["create", "--cpu-period", "x", "busybox"],
    ["create", "--cpus", "abc", "busybox"],
    ["create", "--cidfile", "@TMP/existing", "busybox"],
    ["create", "--label-file", "/nonexistent/labels", "busybox"],
    ["create", "--env-file", "/nonexistent/env", "busybox"],
    ["create", "--isolation", "bogus", "busybox"],
    ["create", "-a", "bogus", "busybox"],
    ["create", "--network", "a", "--network", "b", "--ip", "10.0.0.1", "busybox"],
    ["create", "--restart", "always", "--rm", "busybox"],
    ["create", "--health-interval", "1x", "busybox"],
    ["create", "--health-interval", "-1s", "busybox"],
    ["create", "--health-retries", "-1", "busybox"],
    ["create", "--no-healthcheck", "--health-cmd", "true", "busybox"],
    ["create", "--stop-timeout", "x", "busybox"],
    ["create", "--rm=maybe", "busybox"],
    ["create", "--tmpfs", "relative", "busybox"],
    ["create", "-v", "relative:/x", "busybox"],
    ["create", "-v", "/a:relative", "busybox"],
    ["create", "--volumes-from", "", "busybox"],
    ["run", "-d", "--rm", "-a", "stdout", "busybox"],
    ["run", "-a", "stderr", "busybox"],
    ["run", "-a", "stdin", "-a", "stdout", "busybox"],
    ["run", "-i", "busybox"],
    ["run", "busybox"],
    ["run", "-d", "--sig-proxy=false", "-t", "busybox"],
    ["update", "ctr"],
    ["update", "--memory", "x", "ctr"],
    ["update", "--restart", "bogus", "ctr"],
    ["update", "--cpus", "x", "ctr"],
    ["exec", "ctr"],
    ["exec", "--env-file", "/nonexistent/env", "ctr", "true"],
    ["network", "create", "--subnet", "bogus", "n"],
    ["network", "create", "--gateway", "10.0.0.1", "n"],
    ["network", "create", "--ip-range", "10.0.0.0/25", "n"],
    ["network", "create", "--subnet", "10.0.0.0/24", "--gateway", "10.0.0.1", "--gateway", "10.0.0.2", "n"],
    ["network", "create", "--subnet", "10.0.0.0/24", "--subnet", "10.0.0.0/16", "n"],
    ["network", "create", "--subnet", "10.0.0.0/24", "--gateway", "10.1.0.1", "n"],
    ["network", "create", "--subnet", "10.0.0.0/24", "--aux-address", "h=10.1.0.1", "n"],
    ["network", "create", "--aux-address", "noequals", "n"],
    ["network", "create", "-o", "noequals", "n"],
    ["network", "create", "--ipam-opt", "noequals", "n"],
    ["network", "create", "--gw-priority", "1", "n"],
    ["network", "connect", "--ip", "bad", "mynet", "ctr"],
    ["network", "connect", "--ip6", "bad", "mynet", "ctr"],
    ["network", "connect", "--link-local-ip", "bad", "mynet", "ctr"],
    ["network", "connect", "--link", "a:b:c", "mynet", "ctr"],
    ["network", "connect", "--driver-opt", "noequals", "mynet", "ctr"],
    ["network", "connect", "--gw-priority", "x", "mynet", "ctr"],
    ["volume", "create", "--name", "a", "b"],
    ["volume", "create", "-o", "noequals"],
    ["volume", "create", "--limit-bytes", "lots", "cv"],
    ["stop", "-t", "x", "ctr"],
    ["kill", "ctr", "-s"],
]


def _inspect(req: Request) -> Reply:
    name = req.path.split("/")[-2]
    return json_reply(
        {
            "Id": CONTAINER_ID if name == "ctr" else name,
            "Name": "/" + name,
            "State": {"Running": True, "Paused": False, "Restarting": False, "ExitCode": 0},
            "Config": {"Tty": False, "OpenStdin": False},
            "HostConfig": {"AutoRemove": False},
            "NetworkSettings": {"Ports": {}},
        }
    )


def _routes(stub: StubDaemon) -> None:
    stub.route("HEAD", r"/_ping", lambda r: Reply(200, headers={"Ostype": "linux"}))
    stub.route("GET", r"/_ping", lambda r: Reply(200, b"OK", headers={"Ostype": "linux"}))
    stub.route("POST", r"/containers/create", lambda r: json_reply({"Id": CONTAINER_ID, "Warnings": []}, 201))
    stub.route("GET", r"/containers/[^/]+/json", _inspect)
    stub.route("POST", r"/containers/[^/]+/start", lambda r: Reply(204))
    stub.route("POST", r"/containers/[^/]+/attach", lambda r: Reply(200, hijack=lambda sock: sock.close()))
    stub.route("POST", r"/containers/[^/]+/wait", lambda r: json_reply({"StatusCode": 0, "Error": None}))
    stub.route("PUT", r"/containers/[^/]+/archive", lambda r: Reply(200))
    stub.route("HEAD", r"/containers/[^/]+/archive", lambda r: Reply(404))
    stub.route("POST", r"/containers/[^/]+/exec", lambda r: json_reply({"Id": EXEC_ID}, 201))
    stub.route(
        "POST",
        r"/exec/[^/]+/start",
        lambda r: Reply(200, hijack=lambda sock: None) if not r.json().get("Detach") else Reply(200),
    )
    stub.route("GET", r"/exec/[^/]+/json", lambda r: json_reply({"ExitCode": 0, "Running": False}))
    stub.route("POST", r"/containers/[^/]+/update", lambda r: json_reply({"Warnings": []}))
    stub.route("POST", r"/containers/[^/]+/(kill|stop|restart)", lambda r: Reply(204))
    stub.route("DELETE", r"/containers/.+", lambda r: Reply(204))
    stub.route("POST", r"/networks/create", lambda r: json_reply({"Id": NETWORK_ID, "Warning": ""}, 201))
    stub.route("POST", r"/networks/[^/]+/connect", lambda r: Reply(200))
    stub.route(
        "POST",
        r"/volumes/create",
        lambda r: json_reply({"Name": r.json().get("Name") or "f" * 64, "Driver": "local"}, 201),
    )
    stub.route("GET", r"/info", lambda r: json_reply({"Swarm": {"LocalNodeState": "inactive"}}))


PULL_CASES: list[list[str]] = [
    ["create", "busybox"],
    ["create", "-q", "busybox"],
    ["run", "-d", "-q", "busybox"],
]


def _pull_stub(path: str) -> StubDaemon:
    """A daemon without the image: the first create answers 404, the pull streams progress."""
    stub = StubDaemon(path)
    _routes(stub)
    state = {"creates": 0}

    def create(req: Request) -> Reply:
        state["creates"] += 1
        if state["creates"] == 1:
            return json_reply({"message": "No such image: busybox:latest"}, 404)
        return json_reply({"Id": CONTAINER_ID, "Warnings": []}, 201)

    lines = [
        {"status": "Pulling from library/busybox", "id": "latest"},
        {"status": "Pull complete", "progressDetail": {}, "id": "abcdef012345"},
        {"status": "Digest: sha256:" + "0" * 64},
        {"status": "Status: Downloaded newer image for busybox:latest"},
    ]
    stub.route("POST", r"/containers/create", create)
    stub.route(
        "POST",
        r"/images/create",
        lambda r: Reply(200, [json.dumps(x).encode() + b"\r\n" for x in lines], chunked=True),
    )
    return stub


def _substitute(argv: list[str], tmp: str) -> list[str]:
    return [a.replace("@TMP", tmp) for a in argv]


def _record(req: Request, tmp: str) -> dict[str, Any]:
    """A request as the captures keep it: the scratch dir as @TMP, the working directory (relative
    paths made absolute by the CLI) as @CWD, so captures hold wherever the repository is."""
    cwd = os.getcwd()

    def scrub(text: str) -> str:
        return text.replace(tmp, "@TMP").replace(cwd + "/", "@CWD/")

    body = scrub(req.body.decode()).rstrip("\n")
    query = {k: [scrub(v) for v in vals] for k, vals in sorted(req.query.items())}
    return {"method": req.method, "path": req.path.split("/", 2)[-1], "query": query, "body": body}


def _docker(
    stub: StubDaemon, argv: list[str], tmp: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    before = len(stub.requests)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": tmp,
        "DOCKER_HOST": stub.host,
        "DOCKER_CONFIG": os.path.join(tmp, "config"),
        "DOCKER_CLI_HINTS": "false",
        "FROM_HOST": "yes",
    }
    proc = subprocess.run(
        ["docker", *_substitute(argv, tmp)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    requests = [_record(r, tmp) for r in stub.requests[before:] if not r.path.endswith("/_ping")]
    return proc, requests


def _prepare(tmp: str) -> None:
    with open(os.path.join(tmp, "seccomp.json"), "w") as fh:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}, fh)
    with open(os.path.join(tmp, "labels"), "w") as fh:
        fh.write("# comment\na=1\nb\n\nc=three words\n")
    with open(os.path.join(tmp, "env"), "w") as fh:
        fh.write("E=1\nFROM_HOST\n")
    with open(os.path.join(tmp, "existing"), "w") as fh:
        fh.write("old\n")
    os.makedirs(os.path.join(tmp, "config"), exist_ok=True)


def _write(name: str, comment: str, cases: list[dict[str, Any]]) -> None:
    with open(os.path.join(HERE, name), "w") as fh:
        json.dump({"_comment": comment, "cases": cases}, fh, indent=1, ensure_ascii=False)
        fh.write("\n")


def main() -> None:
    version = subprocess.run(
        ["docker", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="berth-capture-") as tmp:
        _prepare(tmp)
        stub = StubDaemon(os.path.join(tmp, "d.sock"))
        _routes(stub)
        failures: list[str] = []
        try:
            with open(os.path.join(HERE, "docker_create_bodies.json")) as fh:
                creates: list[dict[str, Any]] = json.load(fh)["cases"]
            known = {json.dumps(c["argv"]) for c in creates}
            for argv, detach in CREATE_CASES:
                if json.dumps(argv) in known:
                    continue
                cid = os.path.join(tmp, "cid")
                if os.path.exists(cid):
                    os.unlink(cid)
                verb = ["run", "-d"] if detach else ["create"]
                proc, requests = _docker(stub, [*verb, *argv], tmp)
                made = [r for r in requests if r["path"].endswith("containers/create")]
                if proc.returncode != 0 or not made:
                    failures.append(f"docker {' '.join(verb + argv)} failed: {proc.stderr}")
                    continue
                case = {"argv": argv, "detach": detach, "query": made[0]["query"], "body": made[0]["body"]}
                others = [r for r in requests if r is not made[0]]
                if any(r["method"] != "POST" or not r["path"].endswith(("/start", "/wait")) for r in others):
                    case["requests"] = requests
                if os.path.exists(cid):
                    with open(cid) as fh:
                        case["cidfile"] = fh.read()
                creates.append(case)
            _write(
                "docker_create_bodies.json",
                f"POST /containers/create bodies captured from the real {version} (docker create ARGV, or "
                "docker run -d ARGV when detach) by tests/unit/cli/capture_docker.py",
                creates,
            )
            requests_out = []
            for argv in REQUEST_CASES:
                proc, requests = _docker(stub, argv, tmp)
                if proc.returncode != 0:
                    failures.append(f"docker {' '.join(argv)} failed: {proc.stderr}")
                    continue
                requests_out.append({"argv": argv, "stdout": proc.stdout, "requests": requests})
            _write(
                "docker_requests.json",
                f"every request (but /_ping) the real {version} sent for docker ARGV, captured by "
                "tests/unit/cli/capture_docker.py",
                requests_out,
            )
            errors_out = []
            for argv in ERROR_CASES:
                proc, requests = _docker(stub, argv, tmp)
                errors_out.append(
                    {
                        "argv": argv,
                        "rc": proc.returncode,
                        "stderr": proc.stderr.replace(tmp, "@TMP"),
                        "sent": [
                            f"{r['method']} {r['path']}" for r in requests if not r["path"].endswith("info")
                        ],
                    }
                )
                attach = [r for r in requests if r["path"].endswith("/attach")]
                if attach:  # an attached run: which streams docker asked for
                    errors_out[-1]["attach"] = attach[0]["query"]
            pulls_out = []
            for argv in PULL_CASES:
                pull_stub = _pull_stub(os.path.join(tmp, "p.sock"))
                try:
                    proc, requests = _docker(pull_stub, argv, tmp)
                finally:
                    pull_stub.close()
                pulls_out.append(
                    {
                        "argv": argv,
                        "rc": proc.returncode,
                        "stdout": proc.stdout,
                        "stderr": proc.stderr,
                        "sent": [f"{r['method']} {r['path']}" for r in requests],
                    }
                )
            _write(
                "docker_pulls.json",
                f"run/create of an image the daemon lacks with the real {version}: output and requests, "
                "captured by tests/unit/cli/capture_docker.py",
                pulls_out,
            )
            _write(
                "docker_errors.json",
                f"what the real {version} printed and returned for ARGV, and which requests it sent "
                "(none: refused client-side), captured by tests/unit/cli/capture_docker.py",
                errors_out,
            )
        finally:
            stub.close()
    if failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main()
