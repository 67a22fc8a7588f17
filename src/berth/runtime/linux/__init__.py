"""Linux mechanics of the runtime: syscalls via ctypes, rootfs/mounts, capabilities, users, process setup.
May import only berth.errors, berth.util and berth.oci (and the stdlib); nothing here talks to a daemon.
Entry points: syscalls (unshare/setns/mount/pivot_root), rootfs.setup_rootfs, process.finalize_and_exec.
"""
