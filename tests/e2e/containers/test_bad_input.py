"""Malformed request bodies get a 400 in Docker's words, store nothing, and never poison later calls."""

from __future__ import annotations

import json
from typing import Any

import docker
import pytest

from tests.e2e.conftest import Daemon


def _post(api: docker.APIClient, path: str, body: Any) -> tuple[int, str]:
    response = api._post(api._url(path), data=json.dumps(body), headers={"Content-Type": "application/json"})
    return response.status_code, response.json().get("message", "") if response.content else ""


@pytest.mark.root
@pytest.mark.parametrize(
    ("body", "wanted"),
    [
        ({"HostConfig": {"Memory": "lots"}}, "Go struct field CreateRequest.HostConfig.Memory of type int64"),
        ({"Labels": {"a": {"b": 1}}}, "Go struct field CreateRequest.Labels of type string"),
        ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 99999}]}}}, "HostPort of type string"),
        ({"HostConfig": {"StorageOpt": {"size": "1G"}}}, "--storage-opt is supported only for overlay over xfs"),
        ({"HostConfig": {"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]}}, "could not select device driver"),
    ],
)  # fmt: skip
def test_bad_create_is_a_400_and_the_listing_still_works(
    berthd: Daemon, busybox_image: str, body: dict[str, Any], wanted: str
) -> None:
    api = docker.APIClient(base_url=berthd.host)
    status, message = _post(api, "/containers/create", {"Image": busybox_image, "Cmd": ["true"], **body})
    assert status == 400 and wanted in message
    assert api.containers(all=True) == []  # nothing stored, and the listing decodes
    listed = berthd.docker("ps", "-a", "-q")
    assert listed.returncode == 0 and listed.stdout == ""


@pytest.mark.root
def test_exec_with_a_string_cmd_is_a_400(berthd: Daemon, busybox_image: str) -> None:
    api = docker.APIClient(base_url=berthd.host)
    container = api.create_container(busybox_image, ["sleep", "30"])
    api.start(container)
    status, message = _post(api, f"/containers/{container['Id']}/exec", {"Cmd": "ls"})
    assert status == 400 and "ExecOptions.Cmd of type []string" in message
    assert (
        api.exec_inspect(api.exec_create(container, ["true"])["Id"])["ProcessConfig"]["entrypoint"] == "true"
    )


@pytest.mark.root
def test_create_for_another_platform_is_dockers_404(berthd: Daemon, busybox_image: str) -> None:
    api = docker.APIClient(base_url=berthd.host)
    with pytest.raises(docker.errors.NotFound) as info:
        api.create_container(busybox_image, ["true"], platform="linux/arm64")
    assert (
        "was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64"
        in str(info.value)
    )
    assert api.containers(all=True) == []
    assert api.create_container(busybox_image, ["true"], platform="linux/x86_64")["Id"]
    with pytest.raises(docker.errors.APIError, match="unknown operating system or architecture"):
        api.create_container(busybox_image, ["true"], platform="nonsense")
