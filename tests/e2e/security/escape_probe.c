/* escape_probe CASE: tries one thing a container should not be able to do by default and prints
 * "ok" or the error (strerror), exiting 0 or 1. Built static by the tests (gcc -static), bound into
 * containers read-only. Each case is harmless when it succeeds (nothing is loaded, mounted on the host
 * or changed outside the container). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <dirent.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long user_then_mount(void) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) return -1;
    return mount("none", "/tmp", "tmpfs", 0, "");
}

static long clone_newns(void) {
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, 0, 0);
    return pid;
}

/* For SECONDS, look at every process's /proc/PID/exe: any that is not on a container's overlayfs
 * (the runtime's own binary, caught while it joins the container) is a way to overwrite the host's
 * binary (CVE-2019-5736). Prints "reached PATH" for the first one. */
#define OVERLAYFS_MAGIC 0x794c7630
static long exe_watch(int seconds) {
    time_t end = time(NULL) + seconds;
    pid_t self = getpid();
    while (time(NULL) < end) {
        DIR *proc = opendir("/proc");
        if (!proc) return -1;
        struct dirent *entry;
        while ((entry = readdir(proc))) {
            if (entry->d_name[0] < '0' || entry->d_name[0] > '9' || atoi(entry->d_name) == self) continue;
            char path[300], target[512];
            snprintf(path, sizeof path, "/proc/%s/exe", entry->d_name);
            int fd = open(path, O_PATH | O_CLOEXEC);
            if (fd < 0) continue;
            struct statfs fs;
            if (fstatfs(fd, &fs) == 0 && fs.f_type != OVERLAYFS_MAGIC) {
                ssize_t n = readlink(path, target, sizeof target - 1);
                target[n > 0 ? n : 0] = 0;
                printf("reached %s\n", target);
                fflush(stdout);
                _exit(2);
            }
            close(fd);
        }
        closedir(proc);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    long r = -1;
    errno = EINVAL;
    if (!strcmp(what, "keyctl")) {
        r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* the session keyring */, 0);
    } else if (!strcmp(what, "add_key")) {
        r = syscall(SYS_add_key, "user", "berth-probe", "x", 1, -3);
    } else if (!strcmp(what, "unshare-user")) {
        r = unshare(CLONE_NEWUSER);
    } else if (!strcmp(what, "unshare-user-mount")) {
        r = user_then_mount();
    } else if (!strcmp(what, "clone-newns")) {
        r = clone_newns();
    } else if (!strcmp(what, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.map_type = BPF_MAP_TYPE_ARRAY;
        attr.key_size = 4;
        attr.value_size = 4;
        attr.max_entries = 1;
        r = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    } else if (!strcmp(what, "perf_event_open")) {
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_TASK_CLOCK;
        attr.exclude_kernel = 1;
        r = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    } else if (!strcmp(what, "userfaultfd")) {
        r = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
    } else if (!strcmp(what, "personality")) {
        r = personality(ADDR_NO_RANDOMIZE);
    } else if (!strcmp(what, "mount")) {
        r = mount("none", "/tmp", "tmpfs", 0, "");
    } else if (!strcmp(what, "pivot_root")) {
        r = syscall(SYS_pivot_root, "/tmp", "/tmp");
    } else if (!strcmp(what, "init_module")) {
        r = syscall(SYS_init_module, NULL, 0, "");
    } else if (!strcmp(what, "kexec_load")) {
        r = syscall(SYS_kexec_load, 0, 0, NULL, 0x00000001 /* KEXEC_ON_CRASH */);
    } else if (!strcmp(what, "open_by_handle_at")) {
        char buf[sizeof(struct file_handle) + 8];
        struct file_handle *handle = (struct file_handle *)buf;
        memset(buf, 0, sizeof buf);
        handle->handle_bytes = 8;
        handle->handle_type = 1;
        r = syscall(SYS_open_by_handle_at, AT_FDCWD, handle, O_RDONLY);
    } else if (!strcmp(what, "exe-watch")) {
        r = exe_watch(argc > 2 ? atoi(argv[2]) : 5);
    } else if (!strcmp(what, "ptrace")) {  /* attach to PID (then let it go) */
        pid_t target = argc > 2 ? (pid_t)atoi(argv[2]) : 1;
        r = ptrace(PTRACE_ATTACH, target, NULL, NULL);
        if (r == 0) {
            waitpid(target, NULL, __WALL);
            ptrace(PTRACE_DETACH, target, NULL, NULL);
        }
    } else if (!strcmp(what, "mkdir")) {
        r = mkdir("/tmp/berth-probe", 0700);
    }
    printf("%s\n", r < 0 ? strerror(errno) : "ok");
    return r < 0;
}
