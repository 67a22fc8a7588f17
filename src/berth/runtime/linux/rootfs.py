"""Build a container's filesystem view inside its (new) mount namespace, then pivot_root into it.

Runs in the container's init process after ``unshare(CLONE_NEWNS)``. Order (runc's rootfs_linux.go):
propagation private → rootfs mounts (overlay) → spec mounts in order → device nodes and /dev symlinks
→ /dev/console → pivot_root + detach the old root → masked paths → readonly paths → readonly root.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence

from berth.oci.mount import Mount
from berth.runtime.linux import idmap
from berth.runtime.linux import syscalls as sc

_FLAGS: dict[str, tuple[bool, int]] = {
    # option: (clear?, flag)
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID), "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV), "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC), "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC), "remount": (False, sc.MS_REMOUNT), "mand": (False, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME), "atime": (True, sc.MS_NOATIME),
    "nodiratime": (False, sc.MS_NODIRATIME), "diratime": (True, sc.MS_NODIRATIME),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
}  # fmt: skip
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}  # fmt: skip
# statvfs f_flag bits that equal MS_* bits and must be preserved on a bind remount.
_LOCKED = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | sc.MS_NODIRATIME | sc.MS_RELATIME

DEFAULT_DEVICES = (  # name, major, minor (runc's AllowedDevices nodes)
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
)  # fmt: skip
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx"),
)  # fmt: skip


# A bind source inside another process's root (``--ipc container:X`` shares X's /dev/shm this way).
_FOREIGN = re.compile(r"^/proc/(\d+)/root(/.*)$")


def clone_foreign_sources(spec_mounts: Sequence[Mapping[str, object]]) -> dict[str, int]:
    """For each bind mount whose source is ``/proc/PID/root/PATH`` in another mount namespace, a
    detached clone of PATH made inside that namespace (bind(2) cannot reach across namespaces).
    Runs before ``unshare(CLONE_NEWNS)``; returns source → mount fd, for ``mount_spec``."""
    clones: dict[str, int] = {}
    own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        for entry in spec_mounts:
            source = str(entry.get("source") or "")
            match = _FOREIGN.match(source)
            if match is None or source in clones:
                continue
            theirs = os.open(f"/proc/{match.group(1)}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if os.fstat(theirs).st_ino == os.fstat(own).st_ino:
                    continue  # same namespace: an ordinary bind mount works
                sc.setns(theirs, sc.CLONE_NEWNS)
                try:
                    clones[source] = sc.open_tree_clone(match.group(2))
                finally:
                    sc.setns(own, sc.CLONE_NEWNS)
            finally:
                os.close(theirs)
    finally:
        os.close(own)
    return clones


def parse_options(options: Iterable[str]) -> tuple[int, int, str]:
    """OCI mount options → (mount flags, propagation flags, filesystem data string)."""
    flags, propagation, data = 0, 0, []
    for option in options:
        if option in _FLAGS:
            clear, flag = _FLAGS[option]
            flags = flags & ~flag if clear else flags | flag
        elif option in _PROPAGATION:
            propagation |= _PROPAGATION[option]
        else:
            data.append(option)
    return flags, propagation, ",".join(data)


def secure_join(root: str, unsafe: str) -> str:
    """Join ``unsafe`` under ``root``, resolving symlinks as if ``root`` were ``/`` so an image's
    symlinks can never point a mount outside the rootfs (a minimal filepath-securejoin)."""
    parts = [p for p in unsafe.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:
            resolved.append(part)
            continue
        hops += 1
        if hops > 255:
            raise OSError(errno.ELOOP, "too many symlinks", unsafe)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p and p != "."] + parts
    return os.path.join(root, *resolved)


def _make_target(dest: str, source: str | None, is_bind: bool) -> None:
    if os.path.lexists(dest):
        return
    if is_bind and source is not None and not os.path.isdir(source):
        os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
        os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    else:
        os.makedirs(dest, mode=0o755, exist_ok=True)


def _parent_mount_private(path: str) -> None:
    """runc's rootfsParentMountPrivate: the mount holding ``path``'s parent must not be shared, or
    pivot_root fails and the rootfs mount would propagate to the host."""
    parent = os.path.dirname(os.path.abspath(path))
    best, shared = "", False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape") if "\\" in fields[4] else fields[4]
            inside = parent == point or parent.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                end = fields.index("-") if "-" in fields else len(fields)
                best, shared = point, any(o.startswith("shared:") for o in fields[6:end])
    if best and shared:
        sc.mount(None, best, None, sc.MS_PRIVATE)


def mount_rootfs(
    rootfs: str, mounts: Sequence[Mount], propagation: str = "rprivate", remap: idmap.Remapping | None = None
) -> None:
    """Set the propagation of the tree (private by default: nothing we mount leaks to the host), then
    mount the rootfs. ``shared`` (non-recursive) and ``rslave`` are what Docker asks for when a bind is
    shared or slave: the host's mounts keep their peer groups, so those binds can too."""
    # Must come first: without it our mounts would propagate into the host's shared mounts.
    sc.mount(None, "/", None, _PROPAGATION.get(propagation, sc.MS_PRIVATE | sc.MS_REC))
    if propagation != "rprivate":
        _parent_mount_private(rootfs)
    for m in mounts:
        flags, _, data = parse_options(m.options)
        if m.type == "overlay" and remap is not None:
            data = _idmapped_layers(rootfs, data, remap)
        if m.type == "bind" or flags & sc.MS_BIND:
            sc.mount(m.source, rootfs, None, sc.MS_BIND | sc.MS_REC)
            if flags & sc.MS_RDONLY:
                sc.mount(None, rootfs, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
        elif m.type == "overlay" and len(data) > 4000:
            _mount_long_overlay(m.source, rootfs, flags, data)
        else:
            sc.mount(m.source, rootfs, m.type, flags, data or None)
    if not mounts:
        # pivot_root needs the new root to be a mount point.
        sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)


def _idmapped_layers(rootfs: str, data: str, remap: idmap.Remapping) -> str:
    """The overlay's options with each lower layer replaced by an idmapped bind of it (under the
    bundle, mounted only in the container's mount namespace) and its upper layer owned by the
    container's root: the layers on disk stay shared and unchanged. Where the kernel cannot idmap
    them, a chown-shifted copy of each layer, made once per range, serves instead."""
    staging = os.path.join(os.path.dirname(rootfs), "idmapped")
    options = []
    for option in data.split(","):
        key, _, value = option.partition("=")
        if key == "lowerdir":
            mapped = []
            for index, layer in enumerate(value.split(":")):
                target = os.path.join(staging, str(index))
                os.makedirs(target, exist_ok=True)
                try:
                    if os.environ.get("BERTH_IDMAP") == "chown":  # tests: the fallback on this kernel too
                        raise OSError(errno.EINVAL, "idmapped mounts turned off")
                    idmap.idmapped_bind(layer, target, remap.fd)
                except OSError as exc:
                    if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                        raise
                    target = idmap.shifted_copy(layer, remap)  # a kernel without idmapped layers
                mapped.append(target)
            option = "lowerdir=" + ":".join(mapped)
        elif key == "upperdir":
            os.chown(value, remap.root_uid, remap.root_gid)
        options.append(option)
    return ",".join(options)


def _mount_long_overlay(source: str, target: str, flags: int, data: str) -> None:
    """mount(2) data is limited to one page: with many layers, chdir to the layers' common parent and
    pass relative paths (what containerd and Docker do)."""
    options = data.split(",")
    paths: list[str] = []
    for option in options:
        key, _, value = option.partition("=")
        if key in ("lowerdir", "upperdir", "workdir"):
            paths.extend(value.split(":"))
    common = os.path.commonpath(paths) if paths else "/"
    rewritten = []
    for option in options:
        key, _, value = option.partition("=")
        if key in ("lowerdir", "upperdir", "workdir"):
            value = ":".join(os.path.relpath(p, common) for p in value.split(":"))
            option = f"{key}={value}"
        rewritten.append(option)
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(common)
        sc.mount(source, os.path.abspath(target) if not os.path.isabs(target) else target, "overlay", flags,
                 ",".join(rewritten))  # fmt: skip
    finally:
        os.fchdir(cwd)
        os.close(cwd)


def mount_spec(
    rootfs: str,
    spec_mounts: Sequence[Mapping[str, object]],
    cgroup_version: int,
    clones: Mapping[str, int] | None = None,
    *,
    cgroupns: bool = True,
    userns_fd: int = -1,
) -> None:
    """Mount every ``mounts[]`` entry under ``rootfs`` in order (before pivot_root); ``clones``:
    mount fds from ``clone_foreign_sources`` to attach instead of binding their source;
    ``userns_fd``: a remapped container's maps, through which its binds are seen (idmapped)."""
    clones = clones or {}
    for entry in spec_mounts:
        destination = str(entry.get("destination", ""))
        kind = str(entry.get("type") or "")
        source = str(entry.get("source") or kind or "none")
        raw_options = entry.get("options")
        options = [str(o) for o in raw_options] if isinstance(raw_options, list) else []
        recursive_ro = "rro" in options  # Docker's recursively read-only bind: submounts too
        options = [o for o in options if o != "rro"] + (["ro"] if recursive_ro else [])
        flags, propagation, data = parse_options(options)
        is_bind = kind == "bind" or bool(flags & sc.MS_BIND)
        dest = secure_join(rootfs, destination)
        if is_bind and source in clones:
            _make_target(dest, None, False)
            sc.move_mount(clones[source], dest)
        elif is_bind:
            _make_target(dest, source, True)
            _bind(source, dest, flags, userns_fd)
            extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
            if extra:
                extra |= os.statvfs(dest).f_flag & _LOCKED
                sc.mount(None, dest, None, sc.MS_BIND | sc.MS_REMOUNT | extra)
            if recursive_ro:
                sc.mount_setattr_rdonly(dest, recursive=True)
        elif kind == "cgroup":
            _make_target(dest, None, False)
            if cgroupns:
                _mount_cgroup(dest, flags, cgroup_version)
            else:
                _bind_own_cgroups(dest, flags, cgroup_version)
        else:
            _make_target(dest, None, False)
            sc.mount(source, dest, kind, flags, data or None)
        if propagation:
            sc.mount(None, dest, None, propagation)


def _bind(source: str, dest: str, flags: int, userns_fd: int) -> None:
    """A bind; idmapped for a remapped container when the source's filesystem allows it (a bind of
    one that does not, such as procfs, is seen with the host's ids, as without remapping)."""
    if userns_fd >= 0:
        try:
            idmap.idmapped_bind(source, dest, userns_fd, recursive=bool(flags & sc.MS_REC))
            return
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EPERM, errno.EOPNOTSUPP):
                raise
    sc.mount(source, dest, None, sc.MS_BIND | (flags & sc.MS_REC))


def _mount_cgroup(dest: str, flags: int, version: int) -> None:
    # Mounted after unshare(CLONE_NEWCGROUP), so each hierarchy shows the container's cgroup as its root.
    if version == 2:
        sc.mount("cgroup", dest, "cgroup2", flags)
        return
    base = flags & ~sc.MS_RDONLY
    sc.mount("tmpfs", dest, "tmpfs", base, "mode=755")
    with open("/proc/self/cgroup") as f:
        hierarchies = [line.rstrip("\n").split(":", 2)[1] for line in f]
    for controllers in hierarchies:
        if not controllers or controllers.startswith("name="):
            continue
        target = os.path.join(dest, controllers)
        os.mkdir(target, 0o755)
        sc.mount("cgroup", target, "cgroup", flags, controllers)
        for alias in controllers.split(","):  # cpu,cpuacct → cpu and cpuacct symlinks
            if alias != controllers and not os.path.lexists(os.path.join(dest, alias)):
                os.symlink(controllers, os.path.join(dest, alias))
    if flags & sc.MS_RDONLY:
        sc.mount(None, dest, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | base)


def _cgroup_mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, root, mountpoint, controllers) of each cgroup hierarchy mounted in our namespace."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
                continue
            controllers = {o for o in tail[2].split(",") if o not in ("rw", "ro")}
            found.append((tail[0], fields[3], fields[4].replace("\\040", " "), controllers))
    return found


def _bind_own_cgroups(dest: str, flags: int, version: int) -> None:
    """No cgroup namespace (``--cgroupns host``): bind the container's own cgroup directories at
    /sys/fs/cgroup, as runc does, instead of mounting whole hierarchies."""
    with open("/proc/self/cgroup") as f:
        own = {
            parts[1]: parts[2] for parts in (line.rstrip("\n").split(":", 2) for line in f) if len(parts) == 3
        }
    mounts = _cgroup_mounts()
    base = flags & ~sc.MS_RDONLY

    def bind(source: str, target: str) -> None:
        sc.mount(source, target, None, sc.MS_BIND)
        if flags & sc.MS_RDONLY:
            keep = os.statvfs(target).f_flag & _LOCKED
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep)

    def source_for(fstype: str, controllers: set[str], path: str) -> str | None:
        for kind, root, mountpoint, opts in mounts:
            if kind == fstype and (fstype == "cgroup2" or controllers <= opts):
                relative = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
                return os.path.normpath(os.path.join(mountpoint, relative))
        return None

    if version == 2:
        source = source_for("cgroup2", set(), own.get("", "/"))
        if source is None:
            raise OSError(errno.ENOENT, "no cgroup2 mount to bind", dest)
        bind(source, dest)
        return
    sc.mount("tmpfs", dest, "tmpfs", base, "mode=755")
    for controllers, path in own.items():
        if not controllers or controllers.startswith("name="):
            continue
        source = source_for("cgroup", set(controllers.split(",")), path)
        if source is None:
            continue
        target = os.path.join(dest, controllers)
        os.mkdir(target, 0o755)
        bind(source, target)
        for alias in controllers.split(","):
            if alias != controllers and not os.path.lexists(os.path.join(dest, alias)):
                os.symlink(controllers, os.path.join(dest, alias))
    if flags & sc.MS_RDONLY:
        sc.mount(None, dest, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | base)


def create_devices(rootfs: str, devices: Sequence[Mapping[str, object]]) -> None:
    """Default device nodes, spec ``linux.devices`` and /dev symlinks (when /dev is ours)."""
    dev = secure_join(rootfs, "/dev")
    nodes: list[tuple[str, str, int, int, int, int, int]] = [
        (f"/dev/{name}", "c", major, minor, 0o666, 0, 0) for name, major, minor in DEFAULT_DEVICES
    ]
    for d in devices:
        major, minor = d.get("major", 0), d.get("minor", 0)
        mode, uid, gid = d.get("fileMode", 0o666), d.get("uid", 0), d.get("gid", 0)
        if not all(isinstance(v, int) for v in (major, minor, mode, uid, gid)):
            continue
        nodes.append((str(d.get("path")), str(d.get("type", "c")), int(str(major)), int(str(minor)),
                      int(str(mode)), int(str(uid)), int(str(gid))))  # fmt: skip
    old_umask = os.umask(0)
    try:
        for path, kind, major, minor, mode, uid, gid in nodes:
            target = secure_join(rootfs, path)
            if os.path.lexists(target):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            file_type = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(
                kind, 0
            )
            os.mknod(target, file_type | (mode & 0o7777), os.makedev(major, minor))
            os.chown(target, uid, gid)
    finally:
        os.umask(old_umask)
    for source, name in DEV_SYMLINKS:
        link = os.path.join(dev, name)
        if not os.path.lexists(link):
            os.symlink(source, link)
    if os.path.exists("/proc/kcore") and not os.path.lexists(os.path.join(dev, "core")):
        os.symlink("/proc/kcore", os.path.join(dev, "core"))


def pivot(rootfs: str) -> None:
    """pivot_root into ``rootfs`` and detach the old root, without needing a put_old directory."""
    # runc's trick: pivot_root(".", ".") stacks the old root on top of the new one at "/"; make it
    # rslave so unmounting it cannot propagate to the host, then lazily detach it. After this the
    # host's filesystem is unreachable from the container (unlike chroot, which can be escaped).
    oldroot = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.chdir(rootfs)
        sc.pivot_root(".", ".")
        os.fchdir(oldroot)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(oldroot)
    os.chdir("/")


def mask_paths(paths: Iterable[str]) -> None:
    """Hide host information: /dev/null over files, an empty read-only tmpfs over directories."""
    for path in paths:
        try:
            if os.path.isdir(path):
                sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            else:
                sc.mount("/dev/null", path, None, sc.MS_BIND)
        except FileNotFoundError:
            continue


def readonly_paths(paths: Iterable[str]) -> None:
    """Bind each path onto itself and remount it read-only (keeping its nosuid/nodev/noexec)."""
    for path in paths:
        try:
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        except FileNotFoundError:
            continue
        keep = os.statvfs(path).f_flag & _LOCKED
        sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | keep)


def readonly_root() -> None:
    keep = os.statvfs("/").f_flag & _LOCKED
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep)
