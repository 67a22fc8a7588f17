"""Mount points as Docker's parser makes them (``mounts.py``) and the OCI mounts of a start
(``mount_setup.py``): precedence, validation messages, modes, propagation and tmpfs options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers import mount_setup, mounts
from berth.engine.containers.mounts import MountPoint
from berth.errors import InvalidArgument, NotFound

CID = "c" * 64


def parse(host: dict[str, Any], config: dict[str, Any] | None = None, **kw: Any) -> list[MountPoint]:
    return mounts.parse(
        config or {}, host, container_id=CID, volumes_from=kw.pop("volumes_from", lambda r: []), **kw
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "invalid volume specification: ''"),
        ("/foo:rw", "invalid volume specification: '/foo:rw'"),
        ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
        ("/a:/b:rw,ro", "invalid mode: rw,ro"),
        ("/a:/b:bogus", "invalid mode: bogus"),
        ("/a:/", "invalid volume specification: '/a:/': invalid mount config for type \"bind\": "
                 "invalid specification: destination can't be '/'"),
        ("/a:rel", "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": "
                   "invalid mount path: 'rel' mount path must be absolute"),
        ("/a:/b:nocopy", "invalid volume specification: '/a:/b:nocopy': invalid mount config for type "
                         "\"bind\": field VolumeOptions must not be specified"),
        ("v1:/b:rshared", "invalid volume specification: 'v1:/b:rshared': invalid mount config for type "
                          "\"volume\": field BindOptions must not be specified"),
        ("../x:/b", 'create ../x: "../x" includes invalid characters for a local volume name'),
    ],
)  # fmt: skip
def test_binds_are_refused_in_dockers_words(raw: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        mounts.parse_bind(raw, CID)
    assert str(refused.value).startswith(message)


def test_bind_modes() -> None:
    bind = mounts.parse_bind("/h//x/:/c/:ro,rshared,z", CID)
    assert (bind.type, bind.source, bind.destination, bind.rw) == ("bind", "/h/x", "/c", False)
    assert (bind.mode, bind.propagation, bind.explicit_propagation) == ("ro,rshared,z", "rshared", True)
    assert mounts.parse_bind("/h:/c", CID).propagation == "rprivate"
    named = mounts.parse_bind("data:/d:nocopy", CID)
    assert (named.type, named.name, named.mode, named.copy_data, named.driver) == (
        "volume",
        "data",
        "nocopy",
        False,
        "local",
    )
    assert mounts.parse_bind("data:/d", CID).mode == "z"  # Docker's mode for local named volumes
    anonymous = mounts.parse_bind("/anon", CID)
    assert anonymous.anonymous and anonymous.name == mounts.volumes.anonymous_name(CID, "/anon")
    with pytest.raises(InvalidArgument, match='plugin "nfs" not found'):
        mounts.parse_bind("data:/d", CID, "nfs")


def test_mounts_spec_validation(tmp_path: Path) -> None:
    def refused(cfg: dict[str, Any]) -> str:
        with pytest.raises(InvalidArgument) as error:
            mounts.parse_mount(cfg, CID)
        return str(error.value)

    assert refused({"Type": "bind", "Source": str(tmp_path / "no"), "Target": "/x"}) == (
        f'invalid mount config for type "bind": bind source path does not exist: {tmp_path / "no"}'
    )
    assert (
        refused({"Type": "bind", "Target": "/x"})
        == 'invalid mount config for type "bind": field Source must not be empty'
    )
    assert (
        refused({"Type": "bind", "Source": str(tmp_path)})
        == 'invalid mount config for type "bind": field Target must not be empty'
    )
    assert "invalid propagation mode: sideways" in refused(
        {"Type": "bind", "Source": str(tmp_path), "Target": "/x", "BindOptions": {"Propagation": "sideways"}}
    )
    assert refused({"Type": "volume", "Target": "/x", "ReadOnly": True}).endswith(
        "must not set ReadOnly mode when using anonymous volumes"
    )
    assert refused({"Type": "volume", "Target": "/x", "VolumeOptions": {"Subpath": "a"}}).endswith(
        "must not set Subpath when using anonymous volumes"
    )
    assert refused(
        {"Type": "volume", "Source": "v1", "Target": "/x", "VolumeOptions": {"Subpath": "a/../../b"}}
    ).endswith("subpath must be a relative path within the volume")
    assert refused({"Type": "tmpfs", "Target": "/x", "TmpfsOptions": {"Options": [["uid", "1"]]}}).endswith(
        "invalid option: uid"
    )
    assert (
        refused({"Type": "npipe", "Source": "x", "Target": "/x"})
        == 'invalid mount config for type "npipe": mount type unknown'
    )
    assert refused({"Type": "image", "Target": "/x"}).endswith("field Source must not be empty")
    created = mounts.parse_mount(
        {
            "Type": "bind",
            "Source": str(tmp_path / "no"),
            "Target": "/x",
            "BindOptions": {"CreateMountpoint": True},
        },
        CID,
    )
    assert created.create_source
    tmpfs = mounts.parse_mount(
        {
            "Type": "tmpfs",
            "Target": "/t",
            "TmpfsOptions": {"SizeBytes": 3 << 20, "Mode": 0o1770, "Options": [["exec"]]},
        },
        CID,
    )
    assert tmpfs.tmpfs_options == ("mode=1770", "size=3m", "exec")
    volume = mounts.parse_mount(
        {"Type": "volume", "Source": "v1", "Target": "/v", "ReadOnly": True,
         "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"}, "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}},
        CID,
    )  # fmt: skip
    assert (volume.rw, volume.copy_data, volume.labels, volume.driver_opts) == (
        False,
        False,
        {"a": "b"},
        {"type": "tmpfs"},
    )


def test_precedence_duplicates_and_image_volumes(tmp_path: Path) -> None:
    donor = [
        MountPoint("volume", "/data", name="shared", driver="local", mode="z"),
        MountPoint("volume", "/b", name="x"),
    ]
    points = parse(
        {
            "VolumesFrom": ["donor:ro"],
            "Binds": [f"{tmp_path}:/b"],
            "Mounts": [{"Type": "tmpfs", "Target": "/t"}],
        },
        {"Volumes": {"/data": {}, "/img": {}, "/t": {}}},
        volumes_from=lambda ref: donor if ref == "donor" else [],
    )
    by_dest = {p.destination: p for p in points}
    assert by_dest["/data"].name == "shared" and not by_dest["/data"].rw and by_dest["/data"].mode == ""
    assert by_dest["/b"].type == "bind"  # a bind replaces what --volumes-from gave at that path
    assert by_dest["/t"].type == "tmpfs" and by_dest["/img"].anonymous
    for host in (
        {"Binds": [f"{tmp_path}:/x", "v1:/x"]},
        {"Binds": [f"{tmp_path}:/x"], "Mounts": [{"Type": "tmpfs", "Target": "/x"}]},
        {"Binds": ["v1:/x"], "Tmpfs": {"/x": ""}},
    ):
        with pytest.raises(InvalidArgument, match="^Duplicate mount point: /x$"):
            parse(host)
    with pytest.raises(InvalidArgument, match="invalid mode: rshared"):
        parse({"VolumesFrom": ["donor:rshared"]})
    with pytest.raises(InvalidArgument, match="volumes-from specification cannot be an empty string"):
        parse({"VolumesFrom": [""]})


def test_daemon_root_binds_become_rslave(tmp_path: Path) -> None:
    [point] = parse({"Binds": [f"{tmp_path}:/host"]}, daemon_root=str(tmp_path / "berth"))
    assert point.propagation == "rslave" and not point.explicit_propagation
    with pytest.raises(InvalidArgument, match='must use either propagation mode "rslave" or "rshared"'):
        parse({"Binds": [f"{tmp_path}:/host:private"]}, daemon_root=str(tmp_path / "berth"))


def test_record_round_trip(tmp_path: Path) -> None:
    points = parse(
        {
            "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1024}}],
            "Binds": ["v1:/v"],
        }
    )
    mounts.save(tmp_path, points)
    assert [MountPoint.from_json(p.to_json()) for p in points] == points
    assert (tmp_path / mounts.RECORD).exists()


INFOS = [("/", []), ("/srv", ["shared:7"]), ("/srv/slave", ["master:7"])]


def test_oci_mounts_options_and_propagation(tmp_path: Path) -> None:
    points = [
        MountPoint("bind", "/a/b", source="/srv/x", rw=False, propagation="rshared"),
        MountPoint("bind", "/a", source="/srv/slave/y", propagation="rslave", non_recursive=True),
        MountPoint(
            "bind", "/w", source="/srv", rw=False, readonly_non_recursive=True, propagation="rprivate"
        ),
        MountPoint("volume", "/v", name="v1", rw=False),
        MountPoint("tmpfs", "/t", tmpfs_options=("size=1m", "exec")),
    ]
    user = mount_setup.oci_mounts(
        points, volume_dir=lambda n: tmp_path / n, image_mounts=lambda p: [], infos=INFOS
    )
    by_dest = {m["destination"]: m for m in user.mounts}
    assert user.root_propagation == "shared"
    assert by_dest["/a/b"]["options"] == ["rbind", "rro", "rshared"]
    assert by_dest["/a"]["options"] == ["bind", "rslave"]
    assert by_dest["/w"]["options"] == ["rbind", "ro", "rprivate"]
    assert by_dest["/v"] == {
        "destination": "/v",
        "type": "bind",
        "source": str(tmp_path / "v1"),
        "options": ["rbind", "rro", "rprivate"],
    }
    assert by_dest["/t"]["options"] == ["nosuid", "nodev", "rprivate", "size=1m", "exec"]
    assert [m["destination"] for m in user.mounts][-1] == "/a/b"  # parents first
    slave_only = mount_setup.oci_mounts(
        points[1:2], volume_dir=lambda n: tmp_path, image_mounts=lambda p: [], infos=INFOS
    )
    assert slave_only.root_propagation == "rslave"
    with pytest.raises(InvalidArgument, match="^path /opt is mounted on / but it is not a shared mount$"):
        mount_setup.oci_mounts(
            [MountPoint("bind", "/o", source="/opt", propagation="shared")],
            volume_dir=lambda n: tmp_path, image_mounts=lambda p: [], infos=INFOS,
        )  # fmt: skip
    with pytest.raises(InvalidArgument, match="it is not a shared or slave mount"):
        mount_setup.oci_mounts(
            [MountPoint("bind", "/o", source="/opt", propagation="rslave", explicit_propagation=True)],
            volume_dir=lambda n: tmp_path, image_mounts=lambda p: [], infos=INFOS,
        )  # fmt: skip


def test_volume_subpath_must_exist(tmp_path: Path) -> None:
    (tmp_path / "v1" / "in").mkdir(parents=True)
    point = MountPoint("volume", "/s", name="v1", subpath="in")
    user = mount_setup.oci_mounts(
        [point], volume_dir=lambda n: tmp_path / n, image_mounts=lambda p: [], infos=INFOS
    )
    assert user.mounts[0]["source"] == str(tmp_path / "v1" / "in")
    with pytest.raises(NotFound, match="cannot access path"):
        mount_setup.oci_mounts(
            [MountPoint("volume", "/s", name="v1", subpath="gone")],
            volume_dir=lambda n: tmp_path / n, image_mounts=lambda p: [], infos=INFOS,
        )  # fmt: skip


def test_inspect_json_shapes(tmp_path: Path) -> None:
    shown = mounts.inspect_json(
        [MountPoint("volume", "/v", name="v1", driver="local", mode="z"), MountPoint("tmpfs", "/t"),
         MountPoint("bind", "/b", source="/h", mode="ro", rw=False, propagation="rprivate")],
        lambda n: tmp_path / n,
    )  # fmt: skip
    assert shown == [
        {"Type": "bind", "Source": "/h", "Destination": "/b", "Mode": "ro", "RW": False, "Propagation": "rprivate"},
        {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True, "Propagation": ""},
        {"Type": "volume", "Name": "v1", "Source": str(tmp_path / "v1"), "Destination": "/v", "Driver": "local",
         "Mode": "z", "RW": True, "Propagation": ""},
    ]  # fmt: skip


def test_merge_tmpfs_options() -> None:
    assert mount_setup.merge_tmpfs(["noexec", "nosuid", "size=1m", "exec", "size=2m", "ro"]) == [
        "nosuid", "exec", "size=2m", "ro",
    ]  # fmt: skip
