"""Privileges from HostConfig, checked inside the container: capabilities, --privileged, devices,
ulimits, groups, the OOM score, sysctls, the domain name, --security-opt, masked paths, exec's
privileges, and the fields Docker refuses (runtime, isolation, user namespaces)."""

from __future__ import annotations

import os
import resource
import stat

import docker
import pytest

from berth.runtime.linux.caps import DOCKER_DEFAULT_CAPS, bounding_set, mask
from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.root

STATUS = "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs)' /proc/self/status"


def _client(berthd: Daemon) -> docker.DockerClient:
    return docker.DockerClient(base_url=berthd.host, timeout=60)


def _run(berthd: Daemon, image: str, script: str, *flags: str) -> str:
    result = berthd.docker("run", "--rm", *flags, image, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _fail(berthd: Daemon, image: str, *flags: str) -> str:
    result = berthd.docker("run", "--rm", *flags, image, "true")
    assert result.returncode != 0, result.stdout
    return result.stderr


def _status(text: str) -> dict[str, str]:
    return {k: v.strip() for k, v in (line.split(":\t") for line in text.strip().splitlines())}


def _caps(*names: str) -> int:
    return mask(names)


HOST_BOUNDING = mask(bounding_set())


# -- capabilities ------------------------------------------------------------------------------


def test_cap_drop_all_then_add(berthd: Daemon, busybox_image: str) -> None:
    fields = _status(_run(berthd, busybox_image, STATUS, "--cap-drop", "ALL", "--cap-add", "net_admin"))
    assert int(fields["CapEff"], 16) == int(fields["CapBnd"], 16) == _caps("CAP_NET_ADMIN")
    empty = _status(_run(berthd, busybox_image, STATUS, "--cap-drop", "all"))
    assert int(empty["CapEff"], 16) == int(empty["CapBnd"], 16) == 0
    # chown needs CAP_CHOWN: gone with --cap-drop ALL
    out = _run(berthd, busybox_image, "touch /f; chown 1 /f 2>/dev/null && echo chowned || echo denied",
               "--cap-drop", "ALL")  # fmt: skip
    assert out.strip() == "denied"


def test_cap_add_and_drop_spellings(berthd: Daemon, busybox_image: str) -> None:
    flags = ("--cap-add", "CAP_SYS_ADMIN", "--cap-add", "sys_ptrace", "--cap-drop", "cap_chown",
             "--cap-drop", "NET_RAW")  # fmt: skip
    fields = _status(_run(berthd, busybox_image, STATUS, *flags))
    expected = (mask(DOCKER_DEFAULT_CAPS) | _caps("CAP_SYS_ADMIN", "CAP_SYS_PTRACE")) & ~_caps(
        "CAP_CHOWN", "CAP_NET_RAW"
    )
    assert int(fields["CapEff"], 16) == int(fields["CapBnd"], 16) == expected
    every = _status(_run(berthd, busybox_image, STATUS, "--cap-add", "all", "--cap-drop", "mknod"))
    assert int(every["CapEff"], 16) == HOST_BOUNDING & ~_caps("CAP_MKNOD")


def test_unknown_capability_is_refused(berthd: Daemon, busybox_image: str) -> None:
    assert 'invalid CapAdd: unknown capability: "CAP_NOPE"' in _fail(
        berthd, busybox_image, "--cap-add", "nope"
    )
    assert 'invalid CapDrop: unknown capability: "CAP_BOGUS"' in _fail(
        berthd, busybox_image, "--cap-drop", "CAP_BOGUS"
    )


# -- privileged --------------------------------------------------------------------------------


def test_privileged_gets_the_hosts_capabilities_devices_and_writable_sys(
    berthd: Daemon, busybox_image: str
) -> None:
    fields = _status(_run(berthd, busybox_image, STATUS, "--privileged"))
    assert int(fields["CapEff"], 16) == int(fields["CapBnd"], 16) == HOST_BOUNDING
    assert fields["NoNewPrivs"] == "0"
    names = set(_run(berthd, busybox_image, "ls /dev", "--privileged").split())
    host = {n for n in os.listdir("/dev") if stat.S_ISCHR(os.lstat(f"/dev/{n}").st_mode)} - {"console"}
    assert host <= names  # every host character device, kmsg and tty0 among them
    mounts = _run(berthd, busybox_image, "cat /proc/mounts", "--privileged").splitlines()
    options = {line.split()[1]: line.split()[3] for line in mounts}
    assert options["/sys"].startswith("rw")
    assert options["/sys/fs/cgroup"].startswith("rw")
    assert "/proc/sys" not in options and "/proc/acpi" not in options  # nothing read-only or masked
    # The device cgroup allows everything: the host's kmsg can be read (a default container: EPERM).
    read = "(exec 3</dev/kmsg) 2>/dev/null && echo opened || echo denied"
    assert _run(berthd, busybox_image, read, "--privileged").strip() == "opened"
    default = "mknod /dev/kmsg c 1 11 && ((exec 3</dev/kmsg) 2>/dev/null && echo opened || echo denied)"
    assert _run(berthd, busybox_image, default).strip() == "denied"


# -- devices -----------------------------------------------------------------------------------


def test_device_is_created_with_its_permissions(berthd: Daemon, busybox_image: str) -> None:
    out = _run(
        berthd, busybox_image,
        "ls -l /dev/mynull /dev/xfull; echo x > /dev/mynull && echo wrote; head -c 3 /dev/xfull | wc -c",
        "--device", "/dev/null:/dev/mynull", "--device", "/dev/full:/dev/xfull:r",
    )  # fmt: skip
    lines = out.strip().splitlines()
    assert lines[0].startswith("crw") and "1,   3" in lines[0]
    assert lines[1].startswith("crw") and "1,   7" in lines[1]
    assert lines[2:] == ["wrote", "3"]
    # r only: the device cgroup refuses writes to /dev/xfull (full returns ENOSPC on allowed writes)
    # /dev/loop-control is not among the default devices: "r" allows opening it for reading only.
    script = "(exec 3</dev/lc) && echo read-ok; (exec 3>/dev/lc) 2>&1; true"
    denied = _run(berthd, busybox_image, script, "--device", "/dev/loop-control:/dev/lc:r")
    assert denied.splitlines()[0] == "read-ok" and "Operation not permitted" in denied


def test_device_cgroup_rule_allows_a_node(berthd: Daemon, busybox_image: str) -> None:
    # /dev/loop-control (10:237): not among Docker's default devices, harmless to open.
    script = "mknod /dev/m c 10 237; (exec 3</dev/m) 2>/dev/null && echo opened || echo denied"
    assert _run(berthd, busybox_image, script).strip() == "denied"
    assert _run(berthd, busybox_image, script, "--device-cgroup-rule", "c 10:237 rwm").strip() == "opened"
    assert _run(berthd, busybox_image, script, "--device-cgroup-rule", "c 10:* r").strip() == "opened"


def test_device_errors(berthd: Daemon, busybox_image: str) -> None:
    message = (
        'error gathering device information while adding custom device "/dev/nope": no such file or directory'
    )
    assert message in _fail(berthd, busybox_image, "--device", "/dev/nope")
    client = _client(berthd)
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container(
            busybox_image,
            ["true"],
            host_config=client.api.create_host_config(device_cgroup_rules=["c 1:x rwm"]),
        )
    assert err.value.status_code == 400
    assert "invalid device cgroup rule format: 'c 1:x rwm'" in str(err.value)


# -- ulimits, groups, OOM score ---------------------------------------------------------------


def test_ulimits(berthd: Daemon, busybox_image: str) -> None:
    out = _run(
        berthd, busybox_image, "ulimit -Sn; ulimit -Hn; ulimit -Su; ulimit -Hu; ulimit -Hc",
        "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=500:600", "--ulimit", "core=0",
    )  # fmt: skip
    assert out.split() == ["1024", "2048", "500", "600", "0"]


def test_ulimit_above_the_hosts_hard_limit_is_an_error(berthd: Daemon, busybox_image: str) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no finite open-files hard limit here")
    stderr = _fail(berthd, busybox_image, "--ulimit", f"nofile={hard + 1}:{hard + 1}")
    assert "error setting rlimit type 7 (RLIMIT_NOFILE)" in stderr
    client = _client(berthd)
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container(
            busybox_image, ["true"],
            host_config=client.api.create_host_config(ulimits=[{"Name": "nofile", "Soft": 10, "Hard": 5}]),
        )  # fmt: skip
    assert err.value.status_code == 400
    assert "ulimit soft limit must be less than or equal to hard limit: 10 > 5" in str(err.value)


def test_group_add_by_name_and_number(berthd: Daemon, busybox_image: str) -> None:
    # busybox's /etc/group (berth bootstrap) has root and nobody (65534)
    out = _run(berthd, busybox_image, "id -G", "--group-add", "nobody", "--group-add", "4242", "-u", "1000")
    assert sorted(out.split(), key=int) == ["0", "4242", "65534"]
    # as root, and in an exec too
    started = berthd.docker(
        "run", "-d", "--name", "groups", "--group-add", "4242", busybox_image, "sleep", "60"
    )
    assert started.returncode == 0, started.stderr
    assert "4242" in berthd.docker("exec", "groups", "id", "-G").stdout.split()
    assert "4242" in berthd.docker("exec", "-u", "1000", "groups", "id", "-G").stdout.split()
    berthd.docker("rm", "-f", "groups")
    assert "Unable to find group nosuchgroup" in _fail(berthd, busybox_image, "--group-add", "nosuchgroup")


def test_oom_score_adj(berthd: Daemon, busybox_image: str) -> None:
    assert (
        _run(berthd, busybox_image, "cat /proc/self/oom_score_adj", "--oom-score-adj", "500").strip() == "500"
    )
    assert "Invalid value 1001, range for oom score adj is [-1000, 1000]" in _fail(
        berthd, busybox_image, "--oom-score-adj", "1001"
    )


# -- sysctls, domain name ----------------------------------------------------------------------


def test_namespaced_sysctls_apply(berthd: Daemon, busybox_image: str) -> None:
    with open("/proc/sys/kernel/shmmni") as f:
        host_shmmni = f.read().strip()
    out = _run(
        berthd, busybox_image,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/fs/mqueue/msg_max "
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmni=1000", "--sysctl", "fs.mqueue.msg_max=20",
    )  # fmt: skip
    assert out.split() == ["1", "1000", "20", "0"]  # and Docker's unprivileged-port default
    with open("/proc/sys/kernel/shmmni") as f:
        assert f.read().strip() == host_shmmni  # the host's own is untouched
    client = _client(berthd)
    domain = client.containers.run(
        busybox_image, ["cat", "/proc/sys/kernel/domainname"], sysctls={"kernel.domainname": "example.org"},
        remove=True,
    )  # fmt: skip
    assert domain == b"example.org\n"


def test_sysctls_outside_the_containers_namespaces_are_refused(berthd: Daemon, busybox_image: str) -> None:
    client = _client(berthd)
    cases = {
        ("vm.max_map_count", "default"): 'sysctl "vm.max_map_count" is not in a separate kernel namespace',
        ("net.ipv4.ip_forward", "host"): 'sysctl "net.ipv4.ip_forward" is not allowed in the hosts network namespace',
        ("kernel.hostname", "default"): 'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field',
    }  # fmt: skip
    for (key, network), message in cases.items():
        with pytest.raises(docker.errors.APIError) as err:
            client.api.create_container(
                busybox_image, ["true"],
                host_config=client.api.create_host_config(sysctls={key: "1"}, network_mode=network),
            )  # fmt: skip
        assert err.value.status_code == 400 and message in str(err.value)
    with pytest.raises(docker.errors.APIError) as err:
        client.api.create_container(
            busybox_image, ["true"],
            host_config=client.api.create_host_config(sysctls={"kernel.shmmax": "1"}, ipc_mode="host"),
        )  # fmt: skip
    assert 'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace' in str(err.value)


def test_domainname(berthd: Daemon, busybox_image: str) -> None:
    script = "hostname; cat /proc/sys/kernel/domainname"
    out = _run(berthd, busybox_image, script, "-h", "box", "--domainname", "example.com")
    assert out.split() == ["box", "example.com"]


# -- security options, masked paths ------------------------------------------------------------


def test_no_new_privileges(berthd: Daemon, busybox_image: str) -> None:
    assert _status(_run(berthd, busybox_image, STATUS))["NoNewPrivs"] == "0"
    for flag in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true"):
        assert _status(_run(berthd, busybox_image, STATUS, "--security-opt", flag))["NoNewPrivs"] == "1"
    off = _run(berthd, busybox_image, STATUS, "--security-opt", "no-new-privileges=false")
    assert _status(off)["NoNewPrivs"] == "0"
    assert 'invalid --security-opt 2: "no-new-privileges=maybe"' in _fail(
        berthd, busybox_image, "--security-opt", "no-new-privileges=maybe"
    )


def test_other_security_options(berthd: Daemon, busybox_image: str) -> None:
    for flag in ("seccomp=unconfined", "apparmor=unconfined", "label=disable"):
        assert _run(berthd, busybox_image, "echo ok", "--security-opt", flag).strip() == "ok"
    client = _client(berthd)
    refused = {
        "seccomp={}": "invalid seccomp profile: defaultAction is missing",
        "seccomp={": "Decoding seccomp profile failed",
        "apparmor=docker-default": "AppArmor is not supported by this daemon",
        "label=type:svirt_lxc_net_t": "SELinux is not supported by this daemon",
        "bogus=1": 'invalid --security-opt 2: "bogus=1"',
        "bogus": 'invalid --security-opt 1: "bogus"',
    }
    for opt, message in refused.items():
        with pytest.raises(docker.errors.APIError) as err:
            client.api.create_container(
                busybox_image, ["true"], host_config=client.api.create_host_config(security_opt=[opt])
            )
        assert err.value.status_code == 400 and message in str(err.value), opt


def test_systempaths_unconfined_and_writable_cgroups(berthd: Daemon, busybox_image: str) -> None:
    check = "grep -c 'tmpfs /proc/acpi\\|/proc/sys ' /proc/mounts; grep ' /sys/fs/cgroup ' /proc/mounts | cut -d' ' -f4"
    default = _run(berthd, busybox_image, check).split()
    assert int(default[0]) >= 1 and default[1].startswith("ro")
    unconfined = _run(berthd, busybox_image, check, "--security-opt", "systempaths=unconfined").split()
    assert unconfined[0] == "0"
    cgroup_options = 'awk \'$3 == "cgroup" || $3 == "cgroup2" {print $4}\' /proc/mounts'
    assert all(o.startswith("ro") for o in _run(berthd, busybox_image, cgroup_options).split())
    writable = _run(berthd, busybox_image, cgroup_options, "--security-opt", "writable-cgroups=true").split()
    assert writable and all(o.startswith("rw") for o in writable)


def test_masked_and_readonly_paths_from_the_api(berthd: Daemon, busybox_image: str) -> None:
    client = _client(berthd)
    api = client.api
    host_config = api.create_host_config()
    host_config["MaskedPaths"] = ["/etc/hostname"]
    host_config["ReadonlyPaths"] = ["/tmp"]
    created = api.create_container(
        busybox_image,
        [
            "sh",
            "-c",
            "wc -c < /etc/hostname; touch /tmp/x 2>/dev/null || echo ro; wc -c < /proc/kcore | head -c 1",
        ],
        host_config=host_config,
    )
    api.start(created["Id"])
    assert api.wait(created["Id"])["StatusCode"] == 0
    out = api.logs(created["Id"]).decode().split()
    assert out[:2] == ["0", "ro"]  # ours applied ...
    inspect = api.inspect_container(created["Id"])["HostConfig"]
    assert inspect["MaskedPaths"] == ["/etc/hostname"] and inspect["ReadonlyPaths"] == ["/tmp"]
    default = api.inspect_container(api.create_container(busybox_image, ["true"])["Id"])["HostConfig"]
    assert "/proc/kcore" in default["MaskedPaths"] and "/proc/sys" in default["ReadonlyPaths"]


# -- exec --------------------------------------------------------------------------------------


def test_exec_has_the_containers_privileges(berthd: Daemon, busybox_image: str) -> None:
    name = "execcaps"
    started = berthd.docker(
        "run", "-d", "--name", name, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN",
        "--security-opt", "no-new-privileges", "--ulimit", "nofile=512:512", busybox_image, "sleep", "60",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    out = berthd.docker("exec", name, "sh", "-c", f"{STATUS}; ulimit -n")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    fields = _status("\n".join(lines[:-1]))
    assert int(fields["CapEff"], 16) == int(fields["CapBnd"], 16) == _caps("CAP_NET_ADMIN")
    assert fields["NoNewPrivs"] == "1"
    assert lines[-1] == "512"
    privileged = berthd.docker("exec", "--privileged", name, "sh", "-c", STATUS)
    assert int(_status(privileged.stdout)["CapEff"], 16) == HOST_BOUNDING
    user = berthd.docker("exec", "-u", "1000:1000", name, "id", "-u")
    assert user.stdout.strip() == "1000"
    berthd.docker("rm", "-f", name)


# -- runtime, isolation, user namespaces, init, console size, annotations ----------------------


def test_runtime_isolation_and_userns_fields(berthd: Daemon, busybox_image: str) -> None:
    client = _client(berthd)
    api = client.api
    created = api.create_container(busybox_image, ["true"])
    assert api.inspect_container(created["Id"])["HostConfig"]["Runtime"] == "runc"
    assert api.create_container(busybox_image, ["true"], host_config=api.create_host_config(runtime="runc"))
    refusals = [
        ({"Runtime": "kata"}, "unknown or invalid runtime name: kata"),
        ({"Isolation": "hyperv"}, "invalid isolation (hyperv): linux only supports 'default'"),
        ({"UsernsMode": "private"}, "invalid UsernsMode: private"),
    ]
    for fields, message in refusals:
        host_config = api.create_host_config()
        host_config.update(fields)
        with pytest.raises(docker.errors.APIError) as err:
            api.create_container(busybox_image, ["true"], host_config=host_config)
        assert err.value.status_code == 400 and message in str(err.value)
    assert _run(berthd, busybox_image, "echo ok", "--isolation", "default").strip() == "ok"
    assert _run(berthd, busybox_image, "echo ok", "--userns", "host").strip() == "ok"


def test_init_console_size_and_annotations(berthd: Daemon, busybox_image: str) -> None:
    assert _run(berthd, busybox_image, "cat /proc/1/comm", "--init").strip() in (
        "docker-init",
        "tini-static",
        "tini",
    )
    client = _client(berthd)
    api = client.api
    host_config = api.create_host_config()
    host_config["Annotations"] = {"org.example/owner": "me"}
    host_config["ConsoleSize"] = [33, 111]
    created = api.create_container(busybox_image, ["stty", "size"], tty=True, host_config=host_config)
    api.start(created["Id"])
    assert api.wait(created["Id"])["StatusCode"] == 0
    assert api.logs(created["Id"]).decode().split() == ["33", "111"]
    info = api.inspect_container(created["Id"])
    assert info["HostConfig"]["Annotations"] == {"org.example/owner": "me"}
    bundle_spec = _bundle_spec(berthd, created["Id"])
    assert bundle_spec["annotations"]["org.example/owner"] == "me"


def _bundle_spec(berthd: Daemon, container_id: str) -> dict[str, object]:
    import json

    found = list(berthd.data_root.rglob(f"{container_id}/bundle/config.json"))
    assert found, "no bundle for the container"
    spec: dict[str, object] = json.loads(found[0].read_text())
    return spec
