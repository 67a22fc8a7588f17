"""What Berth does with every field of the Engine API's request bodies: the one table behind the
validator's refusals (``schema.check``) and ``docs/api-fields.md`` (``scripts/gen-api-fields``).

A row is keyed by the definition that declares the field and its name (``HostConfig.Binds``,
``Resources.Memory``, ``Mount.BindOptions.Propagation``; inline bodies by their title, ``ExecConfig.Tty``;
``POST /build``'s query in ``BUILD_QUERY``). Statuses:

- ``yes``: takes effect as in Docker 28;
- ``partly``: takes effect for some values; the engine refuses the others with Docker's messages;
- ``as Docker``: dockerd itself ignores or fills it on Linux, and so does Berth;
- ``refused``: any value but the zero one (``""``, ``0``, ``false``, ``null``, ``[]``, ``{}``, or
  the row's ``unset``) is answered with the row's note (a 400, or the row's ``error``: 503 for
  swarm's fields, as dockerd), before anything is created.

The generator fails when a field of the spec has no row or a row names no field, so a new spec
version cannot add a field that is silently accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from berth.errors import BerthError, Forbidden, InvalidArgument, Unavailable


class Status(StrEnum):
    YES = "yes"
    PARTLY = "partly"
    AS_DOCKER = "as Docker"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Row:
    status: Status
    note: str = ""
    unset: tuple[object, ...] = ()  # values besides the zero ones that mean "not given"
    error: type[BerthError] = InvalidArgument  # what a refusal raises (its HTTP status)


def yes(note: str = "") -> Row:
    return Row(Status.YES, note)


def partly(note: str) -> Row:
    return Row(Status.PARTLY, note)


def as_docker(note: str) -> Row:
    return Row(Status.AS_DOCKER, note)


def refused(
    message: str, *, unset: tuple[object, ...] = (), error: type[BerthError] = InvalidArgument
) -> Row:
    return Row(Status.REFUSED, message, unset, error)


_WINDOWS = "Windows only: dockerd on Linux ignores it too"
_SWARM = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.'
_OUTPUT = "set by the daemon (inspect shows it); a value sent is ignored, as by dockerd"

FIELDS: dict[str, Row] = {
    # -- Config (ContainerConfig): the container's own configuration ------------------------------
    "ContainerConfig.Hostname": yes("`-h`; the UTS hostname and /etc/hostname"),
    "ContainerConfig.Domainname": yes("the UTS domain name"),
    "ContainerConfig.User": yes("`-u name|uid[:group|gid]`, resolved in the container's /etc/passwd"),
    "ContainerConfig.AttachStdin": yes(),
    "ContainerConfig.AttachStdout": yes(),
    "ContainerConfig.AttachStderr": yes(),
    "ContainerConfig.ExposedPorts": yes("`--expose`; `-P` publishes them"),
    "ContainerConfig.Tty": yes("a pseudo-terminal"),
    "ContainerConfig.OpenStdin": yes(),
    "ContainerConfig.StdinOnce": yes(),
    "ContainerConfig.Env": yes("merged over the image's, per key"),
    "ContainerConfig.Cmd": yes("a string or a list"),
    "ContainerConfig.Healthcheck": yes("`--health-*`, `--no-healthcheck`"),
    "ContainerConfig.ArgsEscaped": as_docker(_WINDOWS),
    "ContainerConfig.Image": yes(),
    "ContainerConfig.Volumes": yes(
        "anonymous volumes at these paths, present from create; a new volume takes the image's content, owner and mode"
    ),
    "ContainerConfig.WorkingDir": yes("created when missing"),
    "ContainerConfig.Entrypoint": yes("`--entrypoint`; clears the image's Cmd"),
    "ContainerConfig.NetworkDisabled": yes("loopback only, as --network none"),
    "ContainerConfig.MacAddress": yes("deprecated: the main network's MAC (EndpointSettings.MacAddress)"),
    "ContainerConfig.OnBuild": yes("kept in the container's config; `commit` carries it into the image"),
    "ContainerConfig.Labels": yes(),
    "ContainerConfig.StopSignal": yes(),
    "ContainerConfig.StopTimeout": yes("`--stop-timeout`: the default of `stop`"),
    "ContainerConfig.Shell": yes("kept in the container's config; `commit` carries it into the image"),
    "HealthConfig.Test": yes("NONE, CMD, CMD-SHELL"),
    "HealthConfig.Interval": yes(),
    "HealthConfig.Timeout": yes(),
    "HealthConfig.Retries": yes(),
    "HealthConfig.StartPeriod": yes(),
    "HealthConfig.StartInterval": yes(),
    # -- the create request around Config ----------------------------------------------------------
    "CreateRequest.HostConfig": yes(),
    "CreateRequest.NetworkingConfig": yes(),
    "NetworkingConfig.EndpointsConfig": yes("the networks to join at start"),
    # -- HostConfig: resources (also the body of POST /containers/{id}/update) ----------------------
    "Resources.CpuShares": yes("cpu.shares (cpu.weight on cgroup v2)"),
    "Resources.Memory": yes("memory.limit_in_bytes; an OOM kill is exit 137 with State.OOMKilled"),
    "Resources.CgroupParent": yes("relative to berthd's own cgroup; absolute from the hierarchy's root"),
    "Resources.BlkioWeight": partly(
        "blkio.weight / io.weight where the kernel has it (10..1000); otherwise discarded with Docker's warning"
    ),
    "Resources.BlkioWeightDevice": partly(
        "blkio.weight_device where the kernel has it; otherwise discarded with Docker's warning"
    ),
    "Resources.BlkioWeightDevice.Path": yes(),
    "Resources.BlkioWeightDevice.Weight": yes(),
    "Resources.BlkioDeviceReadBps": yes(
        "blkio.throttle.read_bps_device / io.max, major:minor of the host path"
    ),
    "Resources.BlkioDeviceWriteBps": yes("blkio.throttle.write_bps_device / io.max"),
    "Resources.BlkioDeviceReadIOps": yes("blkio.throttle.read_iops_device / io.max"),
    "Resources.BlkioDeviceWriteIOps": yes("blkio.throttle.write_iops_device / io.max"),
    "ThrottleDevice.Path": yes(),
    "ThrottleDevice.Rate": yes(),
    "Resources.CpuPeriod": yes("cpu.cfs_period_us"),
    "Resources.CpuQuota": yes("cpu.cfs_quota_us"),
    "Resources.CpuRealtimePeriod": partly(
        'cpu.rt_period_us on cgroup v1 with RT group scheduling; else Docker\'s "Your kernel does not support CPU real-time scheduler"'
    ),
    "Resources.CpuRealtimeRuntime": partly("cpu.rt_runtime_us, as the period"),
    "Resources.CpusetCpus": yes("cpuset.cpus, checked against the CPUs on offer"),
    "Resources.CpusetMems": yes("cpuset.mems, checked against the memory nodes on offer"),
    "Resources.Devices": yes("`--device HOST[:CONTAINER][:rwm]`: the node inside and its device cgroup rule"),
    "DeviceMapping.PathOnHost": yes(),
    "DeviceMapping.PathInContainer": yes(),
    "DeviceMapping.CgroupPermissions": yes(),
    "Resources.DeviceCgroupRules": yes(
        "cgroup v1's devices controller; on cgroup v2 an eBPF device program, as runc's"
    ),
    "Resources.DeviceRequests": refused('could not select device driver "" with capabilities: [[gpu]]'),
    "DeviceRequest.Driver": yes(),
    "DeviceRequest.Count": yes(),
    "DeviceRequest.DeviceIDs": yes(),
    "DeviceRequest.Capabilities": yes(),
    "DeviceRequest.Options": yes(),
    "Resources.KernelMemoryTCP": partly(
        "memory.kmem.tcp.limit_in_bytes on cgroup v1; discarded with a warning where the kernel lacks it"
    ),
    "Resources.MemoryReservation": yes("memory.soft_limit_in_bytes (memory.low on v2)"),
    "Resources.MemorySwap": yes("memory.memsw.limit_in_bytes; -1 unlimited, unset twice the memory"),
    "Resources.MemorySwappiness": partly(
        "memory.swappiness 0..100 on cgroup v1 (-1: the kernel's); discarded with Docker's warning on v2"
    ),
    "Resources.NanoCpus": yes("`--cpus`: a CFS quota"),
    "Resources.OomKillDisable": yes("memory.oom_control; Docker's warning without a memory limit"),
    "Resources.Init": yes("`--init`: tini as PID 1, in a PID namespace of the container's own"),
    "Resources.PidsLimit": yes("pids.max; 0 and -1 unlimited"),
    "Resources.Ulimits": yes(
        "`--ulimit`, applied exactly: more than the daemon's hard limit is an error, not a clamp"
    ),
    "Resources.Ulimits.Name": yes(),
    "Resources.Ulimits.Soft": yes(),
    "Resources.Ulimits.Hard": yes(),
    "Resources.CpuCount": as_docker(
        "Windows only: discarded with a warning (dockerd on Linux keeps it and applies nothing)"
    ),
    "Resources.CpuPercent": as_docker(
        'Windows only: discarded with Docker\'s warning "linux does not support CPU percent. Percent discarded."'
    ),
    "Resources.IOMaximumIOps": refused(
        "Invalid QoS settings: linux does not support configuration of maximum IOPs"
    ),
    "Resources.IOMaximumBandwidth": refused(
        "Invalid QoS settings: linux does not support configuration of maximum bandwidth"
    ),
    # -- HostConfig: the rest ----------------------------------------------------------------------
    "HostConfig.Binds": yes(
        "`-v /host:/ctr[:ro|rw|nocopy|z|Z|(r)shared|(r)slave|(r)private]`, named and anonymous volumes"
    ),
    "HostConfig.ContainerIDFile": as_docker("`--cidfile` is written by the CLI; dockerd only stores it"),
    "HostConfig.LogConfig": yes(),
    "HostConfig.LogConfig.Type": partly(
        "json-file (the default), local, none; another: logger: no log driver named 'X' is registered"
    ),
    "HostConfig.LogConfig.Config": partly(
        "json-file: max-size, max-file, compress, labels, labels-regex, env, env-regex, tag; local: max-size, max-file, compress; mode=blocking; others: unknown log opt 'X' for ... log driver"
    ),
    "HostConfig.NetworkMode": partly(
        "default, bridge, host, none, container:NAME, user-defined bridge networks; other drivers are refused"
    ),
    "HostConfig.PortBindings": yes(
        "`-p [IP:][HOST:]PORT[/udp]`, relayed by berthd; ports out of range: invalid port specification"
    ),
    "PortBinding.HostIp": yes(),
    "PortBinding.HostPort": yes("a port, a range or empty (ephemeral)"),
    "HostConfig.RestartPolicy": yes(),
    "RestartPolicy.Name": yes('"", no, always, unless-stopped, on-failure'),
    "RestartPolicy.MaximumRetryCount": yes("on-failure's limit"),
    "HostConfig.AutoRemove": yes("`--rm`"),
    "HostConfig.VolumeDriver": partly(
        '"" and local; another: error looking up volume plugin X: plugin "X" not found'
    ),
    "HostConfig.VolumesFrom": yes("`--volumes-from CTR[:ro|:rw]`: its volumes and binds at the same paths"),
    "HostConfig.Mounts": yes(
        "`--mount` bind, volume, tmpfs, image; npipe and cluster refused with Docker's 'mount type unknown'"
    ),
    "Mount.Target": yes(),
    "Mount.Source": yes(),
    "Mount.Type": partly(
        "bind, volume, tmpfs, image; npipe and cluster: invalid mount config for type X: mount type unknown"
    ),
    "Mount.ReadOnly": yes(),
    "Mount.Consistency": as_docker("macOS only: dockerd on Linux ignores it"),
    "Mount.BindOptions": yes(),
    "Mount.BindOptions.Propagation": yes(
        "the six modes; a shared/slave bind needs a shared host mount (Docker's error otherwise)"
    ),
    "Mount.BindOptions.NonRecursive": yes(),
    "Mount.BindOptions.CreateMountpoint": yes(),
    "Mount.BindOptions.ReadOnlyNonRecursive": yes("read-only binds are recursive from API 1.44, as Docker"),
    "Mount.BindOptions.ReadOnlyForceRecursive": yes("needs API 1.44"),
    "Mount.VolumeOptions": yes(),
    "Mount.VolumeOptions.NoCopy": yes(),
    "Mount.VolumeOptions.Labels": yes(),
    "Mount.VolumeOptions.DriverConfig": yes(),
    "Mount.VolumeOptions.DriverConfig.Name": partly(
        'local; another: error looking up volume plugin X: plugin "X" not found'
    ),
    "Mount.VolumeOptions.DriverConfig.Options": yes("the local driver's options, as `volume create -o`"),
    "Mount.VolumeOptions.Subpath": yes("API 1.45; never outside the volume"),
    "Mount.ImageOptions": yes(),
    "Mount.ImageOptions.Subpath": refused("image-subpath is not supported by Berth: mount the whole image"),
    "Mount.TmpfsOptions": yes(),
    "Mount.TmpfsOptions.SizeBytes": yes(),
    "Mount.TmpfsOptions.Mode": yes(),
    "Mount.TmpfsOptions.Options": yes("exec/noexec"),
    "HostConfig.ConsoleSize": yes("the terminal's first size with `-t`"),
    "HostConfig.Annotations": yes("OCI annotations (io.berth.* keys are the runtime's and refused)"),
    "HostConfig.CapAdd": yes(
        "names with or without CAP_, any case, and ALL (what the host's bounding set holds)"
    ),
    "HostConfig.CapDrop": yes("names and ALL"),
    "HostConfig.CgroupnsMode": yes("host or private"),
    "HostConfig.Dns": yes("resolv.conf's nameservers"),
    "HostConfig.DnsOptions": yes("resolv.conf's options"),
    "HostConfig.DnsSearch": yes("resolv.conf's search"),
    "HostConfig.ExtraHosts": yes("`--add-host NAME:IP` lines in /etc/hosts"),
    "HostConfig.GroupAdd": yes("names from the container's /etc/group, or numbers; execs too"),
    "HostConfig.IpcMode": yes("private, shareable, none, host, container:NAME (its /dev/shm too)"),
    "HostConfig.Cgroup": refused(
        "HostConfig.Cgroup (joining another container's cgroup) is not supported by this daemon"
    ),
    "HostConfig.Links": yes(
        "`--link NAME[:ALIAS]`: legacy links on the default bridge (hosts lines and ALIAS_PORT_* variables), aliases on user networks"
    ),
    "HostConfig.OomScoreAdj": yes("/proc/self/oom_score_adj, -1000..1000"),
    "HostConfig.PidMode": yes("host, container:NAME"),
    "HostConfig.Privileged": yes(
        "every capability of the host's bounding set, every device, writable /sys and cgroups, no masked paths"
    ),
    "HostConfig.PublishAllPorts": yes("`-P`"),
    "HostConfig.ReadonlyRootfs": yes("`--read-only`"),
    "HostConfig.SecurityOpt": partly(
        "no-new-privileges (off by default, as Docker), systempaths=unconfined, writable-cgroups, seccomp=builtin|unconfined|a profile (Docker's default profile otherwise), apparmor=unconfined, label=disable; AppArmor and SELinux profiles are refused"
    ),
    "HostConfig.StorageOpt": refused(
        "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"
    ),
    "HostConfig.Tmpfs": yes("`--tmpfs PATH[:OPTIONS]`"),
    "HostConfig.UTSMode": yes("host"),
    "HostConfig.UsernsMode": yes(
        '"" (the daemon\'s `--userns-remap`, if set) and `host` (opt out), as dockerd; others refused'
    ),
    "HostConfig.ShmSize": yes("the size of /dev/shm"),
    "HostConfig.Sysctls": partly(
        "namespaced keys (net.* with a private network, kernel.shm*/msg*/sem and fs.mqueue.* with a private IPC namespace, kernel.domainname); others refused with runc's messages"
    ),
    "HostConfig.Runtime": partly(
        '"" and runc (inspect says runc); another: unknown or invalid runtime name: X'
    ),
    "HostConfig.Isolation": partly(
        "\"\" and default; another: invalid isolation (X): linux only supports 'default'"
    ),
    "HostConfig.MaskedPaths": yes("replaces Docker's default list (cri-dockerd sets it)"),
    "HostConfig.ReadonlyPaths": yes("replaces Docker's default list"),
    # -- EndpointSettings: a network's endpoint (create's NetworkingConfig, network connect) --------
    "EndpointSettings.IPAMConfig": yes(),
    "EndpointIPAMConfig.IPv4Address": yes("`--ip`"),
    "EndpointIPAMConfig.IPv6Address": yes(
        "`--ip6`, on an IPv6 network whose IPv6 subnet was given (Docker's refusal otherwise)"
    ),
    "EndpointIPAMConfig.LinkLocalIPs": partly("IPv4 (169.254.0.0/16); IPv6 ones are refused"),
    "EndpointSettings.Links": partly(
        "on user-defined networks (aliases for that container); on the default bridge use HostConfig.Links"
    ),
    "EndpointSettings.MacAddress": yes("`--mac-address`"),
    "EndpointSettings.Aliases": yes("`--network-alias`: names in the members' /etc/hosts"),
    "EndpointSettings.DriverOpts": partly("com.docker.network.endpoint.ifname; other options are refused"),
    "EndpointSettings.GwPriority": yes("the highest holds the default route"),
    "EndpointSettings.NetworkID": as_docker(_OUTPUT),
    "EndpointSettings.EndpointID": as_docker(_OUTPUT),
    "EndpointSettings.Gateway": as_docker(_OUTPUT),
    "EndpointSettings.IPAddress": as_docker(_OUTPUT),
    "EndpointSettings.IPPrefixLen": as_docker(_OUTPUT),
    "EndpointSettings.IPv6Gateway": as_docker(_OUTPUT),
    "EndpointSettings.GlobalIPv6Address": as_docker(_OUTPUT),
    "EndpointSettings.GlobalIPv6PrefixLen": as_docker(_OUTPUT),
    "EndpointSettings.DNSNames": as_docker(_OUTPUT),
    # -- POST /containers/{id}/update ---------------------------------------------------------------
    "UpdateConfig.RestartPolicy": yes(),
    # -- exec ---------------------------------------------------------------------------------------
    "ExecConfig.AttachStdin": yes(),
    "ExecConfig.AttachStdout": yes(),
    "ExecConfig.AttachStderr": yes(),
    "ExecConfig.ConsoleSize": yes("the terminal's first size"),
    "ExecConfig.DetachKeys": yes("ends a TTY exec session with stdin attached; checked at create"),
    "ExecConfig.Tty": yes(),
    "ExecConfig.Env": yes(),
    "ExecConfig.Cmd": yes(),
    "ExecConfig.Privileged": yes("every capability"),
    "ExecConfig.User": yes(),
    "ExecConfig.WorkingDir": yes(),
    "ExecStartConfig.Detach": yes(),
    "ExecStartConfig.Tty": yes(
        "raw stream when true, stdcopy frames when false; the process's terminal comes from exec create, as dockerd"
    ),
    "ExecStartConfig.ConsoleSize": yes("wins over create's, with Tty"),
    # -- volumes ------------------------------------------------------------------------------------
    "VolumeCreateOptions.Name": yes(),
    "VolumeCreateOptions.Driver": partly(
        'local; another: error looking up volume plugin X: plugin "X" not found'
    ),
    "VolumeCreateOptions.DriverOpts": partly(
        'the local driver\'s type, device and o (tmpfs, bind, device mounts at first use); size is refused: "quota size requested but no quota support"'
    ),
    "VolumeCreateOptions.Labels": yes(),
    "VolumeCreateOptions.ClusterVolumeSpec": refused(_SWARM, error=Unavailable),
    # -- networks -----------------------------------------------------------------------------------
    "NetworkCreateRequest.Name": yes(),
    "NetworkCreateRequest.Driver": partly(
        "bridge; overlay: Docker's swarm message; other drivers: could not find plugin X in v1 plugin registry: plugin not found"
    ),
    "NetworkCreateRequest.Scope": partly("local; swarm and global: Docker's swarm message"),
    "NetworkCreateRequest.Internal": yes("no route beyond the bridge"),
    "NetworkCreateRequest.Attachable": yes("stored and shown; any container may join a local bridge anyway"),
    "NetworkCreateRequest.Ingress": refused(_SWARM, error=Forbidden),
    "NetworkCreateRequest.ConfigOnly": yes("a configuration-only network (no bridge)"),
    "NetworkCreateRequest.ConfigFrom": yes("takes IPAM and options from a config-only network"),
    "NetworkCreateRequest.IPAM": yes(),
    "ConfigReference.Network": yes("the config-only network's name"),
    "IPAM.Driver": partly(
        "default; other IPAM drivers: could not find plugin X in v1 plugin registry: plugin not found"
    ),
    "IPAM.Config": yes(),
    "IPAMConfig.Subnet": yes(
        "one IPv4 subnet and, with EnableIPv6, one IPv6 subnet (without: a /64 of the daemon's ULA /48); an IPv6 subnet without EnableIPv6 is refused"
    ),
    "IPAMConfig.IPRange": yes("addresses are allocated from the range"),
    "IPAMConfig.Gateway": yes(),
    "IPAMConfig.AuxiliaryAddresses": yes("never handed out"),
    "IPAM.Options": refused(
        "IPAM options are not supported by Berth's default IPAM driver: create without --ipam-opt"
    ),
    "NetworkCreateRequest.EnableIPv4": partly("true; false is refused (IPv6-only networks are not built)"),
    "NetworkCreateRequest.EnableIPv6": yes(
        "dual-stack: the bridge and every container also get an IPv6 address (no NAT, as for IPv4)"
    ),
    "NetworkCreateRequest.Options": partly(
        "bridge.name, driver.mtu, bridge.enable_icc, bridge.host_binding_ipv4, container_iface_prefix applied; enable_ip_masquerade stored (no NAT yet); other com.docker.* options refused; others kept, as Docker"
    ),
    "NetworkCreateRequest.Labels": yes(),
    "NetworkConnectRequest.Container": yes(),
    "NetworkConnectRequest.EndpointConfig": yes(),
    "NetworkDisconnectRequest.Container": yes(),
    "NetworkDisconnectRequest.Force": yes(),
}

# POST /build's query parameters (the classic builder's options).
BUILD_QUERY: dict[str, Row] = {
    "dockerfile": yes("`-f`; falls back to a lower-case `dockerfile`, as dockerd"),
    "t": yes("`-t`, several; a digest is refused"),
    "extrahosts": yes("`--add-host`: RUN's /etc/hosts"),
    "remote": partly("an http(s) URL of a tarball or of a Dockerfile; git repositories are refused"),
    "q": yes("only the id (everything when the build fails)"),
    "nocache": yes(),
    "cachefrom": yes("pulled or loaded images serve as cache, matched on their history as dockerd does"),
    "pull": yes("pulls the base images again"),
    "rm": yes("intermediate containers removed after each successful step"),
    "forcerm": yes("and after a failed one"),
    "memory": yes("RUN's memory limit"),
    "memswap": yes("RUN's memory+swap limit"),
    "cpushares": yes("RUN's CPU shares"),
    "cpusetcpus": yes(
        "RUN's cpuset.cpus (with `cpusetmems`, `ulimits` and `cgroupparent`, which the spec omits)"
    ),
    "cpuperiod": yes("RUN's CFS period"),
    "cpuquota": yes("RUN's CFS quota"),
    "buildargs": yes("`--build-arg`; proxy variables reach RUN without an ARG"),
    "shmsize": yes("RUN's /dev/shm"),
    "squash": refused("squash is only supported with experimental mode"),
    "labels": yes("`--label`"),
    "networkmode": yes("default, bridge, host, none, a network's name"),
    "platform": partly("the machine's own platform; any other is refused"),
    "target": yes("`--target`"),
    "outputs": refused("outputs (--output) require BuildKit, which this daemon does not have"),
    "version": partly('"1" (the classic builder); "2" (BuildKit) is refused'),
}
