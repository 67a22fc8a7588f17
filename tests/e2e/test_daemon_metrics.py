"""berthd's ``--metrics-addr``: a real berthd scraped over HTTP (parsed with prometheus_client's
parser) while the docker CLI runs, stops and removes a container and pulls from a real registry."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from berth.testing.registry import free_port, start_berth_registry
from tests.e2e.conftest import daemon_with

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_follow_containers_pulls_and_api_calls(tmp_path: Path) -> None:
    port = free_port()
    with daemon_with("--metrics-addr", f"127.0.0.1:{port}") as berthd:
        before = scrape(port)
        assert value(before, "engine_daemon_engine_info", os_type="linux") == 1
        assert value(before, "engine_daemon_container_states_containers", state="running") == 0
        assert value(before, "engine_daemon_engine_cpus_cpus") >= 1

        berthd.docker(
            "run", "-d", "--name", "sleeper", "--network", "none", "busybox", "sleep", "60", check=True
        )
        running = scrape(port)
        assert value(running, "engine_daemon_container_states_containers", state="running") == 1
        for action in ("create", "start"):
            assert value(running, "engine_daemon_container_actions_seconds_count", action=action) == 1
        assert value(running, "engine_daemon_events_total") > value(before, "engine_daemon_events_total")
        started = value(running, "berth_api_requests_total", method="POST", route="/containers/{ref}/start")
        assert started == 1  # by route template: no container id in the labels

        berthd.docker("stop", "-t", "0", "sleeper", check=True)
        stopped = scrape(port)
        assert value(stopped, "engine_daemon_container_states_containers", state="running") == 0
        assert value(stopped, "engine_daemon_container_states_containers", state="stopped") == 1
        berthd.docker("rm", "sleeper", check=True)
        removed = scrape(port)
        assert value(removed, "engine_daemon_container_states_containers", state="stopped") == 0
        assert value(removed, "engine_daemon_container_actions_seconds_count", action="delete") == 1

        registry = start_berth_registry(tmp_path / "registry", admins={"alice": "secret"})
        try:
            name = f"{registry.host}/alice/bb:1"
            berthd.docker(
                "login", "-u", "alice", "--password-stdin", registry.host, input=b"secret\n", check=True
            )
            berthd.docker("tag", "busybox", name, check=True)
            berthd.docker("push", name, check=True)
            berthd.docker("rmi", name, check=True)
            berthd.docker("pull", name, check=True)
        finally:
            registry.stop()
        pulled = scrape(port)
        assert value(pulled, "berth_image_pulls_total") == 1
        assert (
            value(pulled, "berth_api_request_duration_seconds_count", method="POST", route="/images/create")
            == 2
        )  # the bootstrap's import, the pull


def test_a_bad_metrics_addr_is_refused(tmp_path: Path) -> None:
    import subprocess

    from berth.testing.daemon import BERTHD

    result = subprocess.run(
        [
            BERTHD,
            "--data-root",
            str(tmp_path / "d"),
            "--exec-root",
            str(tmp_path / "r"),
            "--metrics-addr",
            "9323",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "berthd: invalid --metrics-addr '9323': use HOST:PORT, as 127.0.0.1:9323"
