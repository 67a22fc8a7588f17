/*
 * berth-monitor: the long-lived half of a container's shim, in C so that an idle container costs
 * ~0.2 MB instead of a forked Python's ~2 MB (see berth/runtime/monitor/__init__.py).
 *
 * The Python shim builds the container (namespaces, mounts, cgroups: shim/creator.py) and then execs
 * this program, which keeps the pid — and so stays the child subreaper that init reports to — and
 * inherits init's stdio, the sync socket and the shim.sock listener. From there it does what
 * shim/server.py's Shim does, speaking the same protocol (shim/protocol.py): start, attach, resize,
 * exec_create/start/attach/wait/resize; it copies output to the json-file log (runtime/logfile.py's
 * format and rotation) and to attached clients, and when init has exited and every started exec is
 * done it writes exit.json and exits.
 *
 * One thing it does not do itself: entering the container for an exec (user lookup, capabilities,
 * rlimits…). It asks the forkserver, which forks a Python helper that joins the container, starts the
 * process with the stdio this monitor passes (SCM_RIGHTS), answers the exec's result, and later its
 * exit code (runtime/shim/exec_helper.py).
 *
 * A log write the disk refuses (full, over quota) drops its records whole (a partial write is cut back
 * off: a torn record breaks every reader, moby#29511) and the container runs on, its output dropped as
 * Docker drops it, until a write succeeds again. The daemon's log gets one notice when that starts and
 * one when the log has been written for a minute without a failure (runtime/notices.py): a full disk
 * that rotation keeps freeing and the output keeps filling is one episode, not a line per rotation.
 *
 * usage: berth-monitor STATE_DIR CONTAINER_ID INIT_PID TTY OPEN_STDIN STDIN_ONCE STDIN_FD STDOUT_FD
 *                      STDERR_FD SYNC_FD LISTENER_FD LOG_PATH LOG_MAX_SIZE LOG_MAX_FILES LOG_COMPRESS
 *                      LOG_ATTRS OOM_FILE FORKSERVER_SOCK STATE_JSON NOTICES_SOCK
 *        (fds are -1 when absent; LOG_PATH, LOG_ATTRS (a JSON object), OOM_FILE and NOTICES_SOCK may
 *        be empty)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 16384       /* Docker splits longer log lines into partial messages of this size */
#define READ_CHUNK 32768

/* ------------------------------------------------------------------------------ small buffers */

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void die(const char *what) {
    fprintf(stderr, "berth-monitor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) die("out of memory");
    b->data = data;
    b->cap = cap;
}

static void buf_add(buf_t *b, const void *data, size_t len) {
    buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void buf_free(buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void buf_consume(buf_t *b, size_t n) {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    if (b->data) b->data[b->len] = 0;
}

/* ------------------------------------------------------------------------------ JSON */

/* Escape as Python's json.encoder.encode_basestring does after decode("utf-8", "replace"):
 * '"', '\\' and control characters escaped, other text kept as UTF-8, invalid UTF-8 -> U+FFFD. */
static void json_quote(buf_t *out, const unsigned char *s, size_t len) {
    buf_add(out, "\"", 1);
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            switch (c) {
            case '"': buf_add(out, "\\\"", 2); break;
            case '\\': buf_add(out, "\\\\", 2); break;
            case '\n': buf_add(out, "\\n", 2); break;
            case '\r': buf_add(out, "\\r", 2); break;
            case '\t': buf_add(out, "\\t", 2); break;
            case '\b': buf_add(out, "\\b", 2); break;
            case '\f': buf_add(out, "\\f", 2); break;
            default:
                if (c < 0x20) buf_printf(out, "\\u%04x", c);
                else buf_add(out, &c, 1);
            }
            i++;
            continue;
        }
        size_t n = 0;
        uint32_t cp = 0, min = 0;
        if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
        size_t ok = 0;
        if (n && i + n <= len) {
            ok = 1;
            for (size_t k = 1; k < n; k++) {
                if ((s[i + k] & 0xC0) != 0x80) { ok = 0; break; }
                cp = (cp << 6) | (s[i + k] & 0x3F);
            }
            if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = 0;
        }
        if (ok) {
            buf_add(out, s + i, n);
            i += n;
        } else {
            buf_add(out, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    buf_add(out, "\"", 1);
}

static const char *json_skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* The end of the JSON value starting at p (strings, numbers, literals, nested objects/arrays). */
static const char *json_value_end(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = json_value_end(p, end);
                if (!p) return NULL;
                p--;
            } else if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n') p++;
    return p;
}

/* Find top-level key in an object; returns the value's span or NULL. */
static const char *json_get(const char *obj, size_t len, const char *key, size_t *vlen) {
    const char *p = obj, *end = obj + len;
    p = json_skip_ws(p, end);
    if (p >= end || *p != '{') return NULL;
    p++;
    size_t klen = strlen(key);
    while (p < end) {
        p = json_skip_ws(p, end);
        if (p < end && *p == '}') return NULL;
        if (p >= end || *p != '"') return NULL;
        const char *kend = json_value_end(p, end);
        if (!kend) return NULL;
        int match = (size_t)(kend - p - 2) == klen && memcmp(p + 1, key, klen) == 0;
        p = json_skip_ws(kend, end);
        if (p >= end || *p != ':') return NULL;
        p = json_skip_ws(p + 1, end);
        const char *vend = json_value_end(p, end);
        if (!vend) return NULL;
        if (match) {
            *vlen = (size_t)(vend - p);
            return p;
        }
        p = json_skip_ws(vend, end);
        if (p < end && *p == ',') p++;
    }
    return NULL;
}

static int json_bool(const char *obj, size_t len, const char *key, int fallback) {
    size_t n;
    const char *v = json_get(obj, len, key, &n);
    if (!v) return fallback;
    return n == 4 && memcmp(v, "true", 4) == 0;
}

static long json_int(const char *obj, size_t len, const char *key, long fallback) {
    size_t n;
    const char *v = json_get(obj, len, key, &n);
    if (!v || n == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))) return fallback;
    return strtol(v, NULL, 10);
}

static void utf8_put(buf_t *out, uint32_t cp) {
    unsigned char b[4];
    if (cp < 0x80) b[0] = (unsigned char)cp, buf_add(out, b, 1);
    else if (cp < 0x800) b[0] = 0xC0 | (cp >> 6), b[1] = 0x80 | (cp & 0x3F), buf_add(out, b, 2);
    else if (cp < 0x10000)
        b[0] = 0xE0 | (cp >> 12), b[1] = 0x80 | ((cp >> 6) & 0x3F), b[2] = 0x80 | (cp & 0x3F), buf_add(out, b, 3);
    else
        b[0] = 0xF0 | (cp >> 18), b[1] = 0x80 | ((cp >> 12) & 0x3F), b[2] = 0x80 | ((cp >> 6) & 0x3F),
        b[3] = 0x80 | (cp & 0x3F), buf_add(out, b, 4);
}

/* A string value, decoded (NULL if absent or not a string). The caller frees it. */
static char *json_string(const char *obj, size_t len, const char *key) {
    size_t n;
    const char *v = json_get(obj, len, key, &n);
    if (!v || n < 2 || v[0] != '"') return NULL;
    buf_t out = {0};
    buf_reserve(&out, n);
    for (size_t i = 1; i + 1 < n; i++) {
        char c = v[i];
        if (c != '\\') { buf_add(&out, &c, 1); continue; }
        c = v[++i];
        switch (c) {
        case 'n': buf_add(&out, "\n", 1); break;
        case 't': buf_add(&out, "\t", 1); break;
        case 'r': buf_add(&out, "\r", 1); break;
        case 'b': buf_add(&out, "\b", 1); break;
        case 'f': buf_add(&out, "\f", 1); break;
        case 'u': {
            uint32_t cp = (uint32_t)strtoul((char[]){v[i + 1], v[i + 2], v[i + 3], v[i + 4], 0}, NULL, 16);
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < n && v[i + 1] == '\\' && v[i + 2] == 'u') {
                uint32_t lo = (uint32_t)strtoul((char[]){v[i + 3], v[i + 4], v[i + 5], v[i + 6], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            utf8_put(&out, cp);
            break;
        }
        default: buf_add(&out, &c, 1);
        }
    }
    if (!out.data) buf_add(&out, "", 0);
    return out.data;
}

/* ------------------------------------------------------------------------------ time, files */

static void rfc3339nano(char out[40]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static long long last_ns;
    /* Every log record gets its own, strictly increasing time (as each of Docker's messages has
     * its own): a follower tells records apart by time across rotations (runtime/logread.py). */
    long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (ns <= last_ns) ns = last_ns + 1;
    last_ns = ns;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%09ldZ", ts.tv_nsec);
}

/* Everything, or -1 (sockets too: SIGPIPE is ignored, so a client that went away is just EPIPE). */
static int write_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Replace path atomically (temp file in the same directory, then rename), as util/atomic does. */
static void write_file_atomic(const char *dir, const char *name, const char *data, size_t len) {
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.%d.tmp", dir, name, getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    int failed = write_all(fd, data, len);
    close(fd);
    if (failed || rename(tmp, path) != 0) unlink(tmp);
}

/* ------------------------------------------------------------------------------ notices */

/* addr for path, through /proc/self/fd for paths longer than sun_path: returns the directory fd to
 * close after connect/sendto (-1 if none was needed). */
static int unix_addr(const char *path, struct sockaddr_un *addr) {
    if (strlen(path) < sizeof addr->sun_path) {
        snprintf(addr->sun_path, sizeof addr->sun_path, "%s", path);
        return -1;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return -1;
    *slash = 0;
    int dirfd = open(dir, O_PATH | O_CLOEXEC);
    snprintf(addr->sun_path, sizeof addr->sun_path, "/proc/self/fd/%d/%s", dirfd, slash + 1);
    return dirfd;
}

static const char *M_notices_sock; /* the NOTICES_SOCK argument */
static const char *M_notice_id;    /* the container id the notices name */

/* One line for the daemon's log: a datagram on its notices socket, never waited for (dropped when no
 * daemon listens), and the same line on our stderr (forkserver.log). */
static void notify(const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, "berth-monitor %.12s: %s\n", M_notice_id, message);
    if (!M_notices_sock || !M_notices_sock[0]) return;
    buf_t dgram = {0};
    buf_str(&dgram, "{\"container_id\":");
    json_quote(&dgram, (const unsigned char *)M_notice_id, strlen(M_notice_id));
    buf_str(&dgram, ",\"message\":");
    json_quote(&dgram, (const unsigned char *)message, strlen(message));
    buf_str(&dgram, "}");
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0) {
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        int dirfd = unix_addr(M_notices_sock, &addr);
        sendto(fd, dgram.data, dgram.len, 0, (struct sockaddr *)&addr, sizeof addr);
        if (dirfd >= 0) close(dirfd);
        close(fd);
    }
    buf_free(&dgram);
}

/* ------------------------------------------------------------------------------ json-file log */

typedef struct {
    int fd;
    char path[PATH_MAX];
    long max_size;
    int max_files;
    long size;        /* bytes counted for rotation, dropped ones too: rotating frees the oldest file */
    int failing;      /* writes are being refused: reported, and not yet written again for a minute */
    double failed_at; /* the last refusal (monotonic seconds) */
    unsigned long dropped; /* records dropped since the failure was reported */
    int compress;     /* gzip rotated files (path.1.gz …), as Docker's compress log-opt */
    pid_t compressor; /* the gzip of path.1 still running, or 0 */
    const char *attrs;
    buf_t partial[2]; /* stdout, stderr */
} log_t;

/* The same script as runtime/logfile.py's COMPRESS_SCRIPT: gzip "$1" beside it, then drop it (no
 * part-written .gz.tmp left when the disk is full). */
#define COMPRESS_SCRIPT \
    "{ gzip -c -- \"$1\" > \"$1.gz.tmp\" && mv -f -- \"$1.gz.tmp\" \"$1.gz\" && rm -f -- \"$1\"; } " \
    "|| rm -f -- \"$1.gz.tmp\""

static const char *STREAM_NAMES[2] = {"stdout", "stderr"};
static const char *M_log_attrs; /* the LOG_ATTRS argument */

/* fd is -1 when the file cannot be opened (a full disk may refuse even an empty one): the next write
 * tries again. */
static void log_open(log_t *log, int truncate) {
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    log->fd = open(log->path, flags, 0640);
    struct stat st;
    log->size = log->fd >= 0 && fstat(log->fd, &st) == 0 ? st.st_size : 0;
}

static void log_wait_compressor(log_t *log) {
    if (log->compressor > 0) {
        while (waitpid(log->compressor, NULL, 0) < 0 && errno == EINTR) {}
        log->compressor = 0;
    }
}

/* Docker's order: drop the oldest .gz, shift the others up, path -> path.1, then gzip path.1 in a
 * child (the previous gzip is awaited first: it owns path.1). */
static void log_rotate_compressed(log_t *log) {
    char src[PATH_MAX + 16], dst[PATH_MAX + 16];
    log_wait_compressor(log);
    snprintf(dst, sizeof dst, "%s.%d.gz", log->path, log->max_files - 1);
    unlink(dst);
    for (int index = log->max_files - 1; index > 1; index--) {
        snprintf(src, sizeof src, "%s.%d.gz", log->path, index - 1);
        snprintf(dst, sizeof dst, "%s.%d.gz", log->path, index);
        rename(src, dst);
    }
    snprintf(dst, sizeof dst, "%s.1", log->path);
    rename(log->path, dst);
    log_open(log, 0);
    pid_t pid = fork(); /* this monitor is single-threaded */
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl("/bin/sh", "sh", "-c", COMPRESS_SCRIPT, "sh", dst, (char *)NULL);
        _exit(127);
    }
    log->compressor = pid > 0 ? pid : 0;
}

static void log_rotate(log_t *log) {
    if (log->fd >= 0) close(log->fd);
    log->fd = -1;
    if (log->compress) {
        log_rotate_compressed(log);
    } else if (log->max_files > 1) {
        char src[PATH_MAX + 16], dst[PATH_MAX + 16];
        for (int index = log->max_files - 1; index > 0; index--) {
            if (index == 1) snprintf(src, sizeof src, "%s", log->path);
            else snprintf(src, sizeof src, "%s.%d", log->path, index - 1);
            snprintf(dst, sizeof dst, "%s.%d", log->path, index);
            rename(src, dst);
        }
        log_open(log, 0);
    } else {
        log_open(log, 1);
    }
    log->size = 0;
}

static void log_entry(buf_t *out, int stream, const unsigned char *data, size_t len, const char *stamp) {
    buf_str(out, "{\"log\":");
    json_quote(out, data, len);
    buf_printf(out, ",\"stream\":\"%s\"", STREAM_NAMES[stream]);
    if (M_log_attrs && M_log_attrs[0]) buf_printf(out, ",\"attrs\":%s", M_log_attrs);
    buf_printf(out, ",\"time\":\"%s\"}\n", stamp);
}

#define LOG_RECOVERED_AFTER 60.0 /* seconds without a refused write before "written again" */

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write count whole records, or drop them all (the header comment: a full disk). */
static void log_out(log_t *log, const char *data, size_t len, size_t count) {
    if (len == 0) return;
    if (log->fd < 0) log_open(log, 0);
    struct stat st; /* where the file ends now (someone may have truncated it, as people do with logs) */
    off_t end = log->fd >= 0 && fstat(log->fd, &st) == 0 ? st.st_size : -1;
    if (log->fd < 0 || write_all(log->fd, data, len) != 0) {
        char reason[256];
        snprintf(reason, sizeof reason, "%s", strerror(errno));
        reason[0] = (char)tolower((unsigned char)reason[0]);
        if (end >= 0 && ftruncate(log->fd, end) != 0) {} /* a partial write cut back off: no torn record */
        log->dropped += count;
        log->failed_at = monotonic();
        if (!log->failing) {
            log->failing = 1;
            notify("cannot write log %s: %s; output is dropped until it can be written", log->path, reason);
        }
        return;
    }
    if (log->failing && monotonic() - log->failed_at >= LOG_RECOVERED_AFTER) {
        log->failing = 0;
        notify("log %s written again (%lu log records dropped)", log->path, log->dropped);
        log->dropped = 0;
    }
}

/* Append records (each a whole line) with one write per file, rotating between records. */
static void log_append(log_t *log, buf_t *records, size_t *bounds, size_t count) {
    size_t start = 0, first = 0;
    for (size_t i = 0; i < count; i++) {
        size_t begin = i ? bounds[i - 1] : 0, len = bounds[i] - begin;
        if (log->max_size > 0 && log->size > 0 && log->size + (long)len > log->max_size) {
            log_out(log, records->data + start, begin - start, i - first);
            start = begin, first = i;
            log_rotate(log);
        }
        log->size += (long)len;
    }
    log_out(log, records->data + start, records->len - start, count - first);
}

static void log_write(log_t *log, int stream, const unsigned char *data, size_t len) {
    if (!log->path[0]) return; /* no json-file log */
    buf_t *part = &log->partial[stream];
    buf_add(part, data, len);
    char stamp[40];
    rfc3339nano(stamp);
    buf_t records = {0};
    size_t cap = 16, count = 0, *bounds = malloc(cap * sizeof *bounds);
    size_t start = 0;
    for (;;) {
        const char *nl = memchr(part->data + start, '\n', part->len - start);
        size_t line_end = nl ? (size_t)(nl - part->data) + 1 : 0;
        size_t avail = nl ? line_end - start : part->len - start;
        size_t take;
        if (avail > MAX_LINE || (!nl && avail == MAX_LINE)) take = MAX_LINE;
        else if (nl) take = avail;
        else break;
        rfc3339nano(stamp);
        log_entry(&records, stream, (unsigned char *)part->data + start, take, stamp);
        if (count == cap) bounds = realloc(bounds, (cap *= 2) * sizeof *bounds);
        bounds[count++] = records.len;
        start += take;
    }
    buf_consume(part, start);
    if (count) log_append(log, &records, bounds, count);
    buf_free(&records);
    free(bounds);
}

/* A stream's unterminated last line, written at EOF as Docker does. */
static void log_flush(log_t *log, int stream) {
    buf_t *part = &log->partial[stream];
    if (!log->path[0] || part->len == 0) return;
    char stamp[40];
    rfc3339nano(stamp);
    buf_t records = {0};
    log_entry(&records, stream, (unsigned char *)part->data, part->len, stamp);
    size_t bound = records.len;
    log_append(log, &records, &bound, 1);
    buf_free(&records);
    part->len = 0;
}

/* ------------------------------------------------------------------------------ processes, clients */

enum { W_SIGNAL, W_LISTENER, W_OUTPUT, W_CLIENT, W_STDIN, W_HELPER };

typedef struct proc proc_t;
typedef struct client client_t;

typedef struct watch {
    int kind, fd, stream;
    void *obj;
} watch_t;

struct client {
    int fd;
    buf_t in;
    proc_t *proc;
    int want[2];
    int stdin;
    buf_t pending;   /* stdin bytes the process has not taken yet */
    int stdin_waiter; /* a dup of the stdin fd, polled for writability while pending */
    watch_t watch, waiter_watch;
    int registered;
    client_t *next; /* in proc->clients */
};

struct proc {
    char *name; /* "init" or the exec id */
    int is_init, tty, open_stdin, stdin_once, privileged;
    int pid;
    int stdin_fd;
    int out_fd[2];
    watch_t out_watch[2];
    int child_fds[3];
    int started, exited, exit_code;
    client_t *clients;
    int waiters[64];
    int nwaiters;
    char *process_json;
    int helper_fd;
    buf_t helper_in;
    watch_t helper_watch;
    proc_t *next;
};

static struct {
    const char *state_dir, *container_id, *forkserver_sock, *oom_file;
    char *state_json;
    int epoll, sync_fd, listener;
    log_t log;
    proc_t init;
    proc_t *execs;
    char error[1024];
} M;

static void watch_add(watch_t *w, int kind, int fd, void *obj, int stream, uint32_t events) {
    w->kind = kind, w->fd = fd, w->obj = obj, w->stream = stream;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(M.epoll, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
}

static void watch_del(int fd) { epoll_ctl(M.epoll, EPOLL_CTL_DEL, fd, NULL); }

static void reply(int fd, const char *json) {
    size_t n = strlen(json);
    char *line = malloc(n + 2);
    memcpy(line, json, n);
    line[n] = '\n';
    write_all(fd, line, n + 1);
    free(line);
}

static int proc_done(proc_t *p) { return p->exited && p->out_fd[0] < 0 && p->out_fd[1] < 0; }

static void client_drop(client_t *c) {
    if (c->stdin_waiter >= 0) {
        watch_del(c->stdin_waiter);
        close(c->stdin_waiter);
        c->stdin_waiter = -1;
    }
    if (c->proc) {
        client_t **pp = &c->proc->clients;
        while (*pp && *pp != c) pp = &(*pp)->next;
        if (*pp) *pp = c->next;
    }
    if (c->registered) watch_del(c->fd);
    close(c->fd);
    buf_free(&c->in);
    buf_free(&c->pending);
    free(c);
}

static void proc_forget(proc_t *p) {
    /* An exec whose exit was collected: the daemon keeps its record (healthchecks run one per
     * interval, so keeping them all would grow without bound). */
    if (p->is_init || !proc_done(p) || p->clients) return;
    proc_t **pp = &M.execs;
    while (*pp && *pp != p) pp = &(*pp)->next;
    if (!*pp) return;
    *pp = p->next;
    if (p->stdin_fd >= 0) close(p->stdin_fd);
    free(p->name);
    free(p->process_json);
    buf_free(&p->helper_in);
    free(p);
}

static void proc_maybe_done(proc_t *p) {
    if (!proc_done(p)) return;
    while (p->clients) client_drop(p->clients);
    int collected = p->nwaiters > 0;
    char msg[64];
    snprintf(msg, sizeof msg, "{\"ok\":true,\"exit_code\":%d}", p->exit_code);
    for (int i = 0; i < p->nwaiters; i++) {
        reply(p->waiters[i], msg);
        close(p->waiters[i]);
    }
    p->nwaiters = 0;
    if (p->stdin_fd >= 0 && !p->tty) {
        close(p->stdin_fd);
        p->stdin_fd = -1;
    }
    if (collected) proc_forget(p);
}

static void proc_watch(proc_t *p) {
    for (int s = 0; s < 2; s++)
        if (p->out_fd[s] >= 0) watch_add(&p->out_watch[s], W_OUTPUT, p->out_fd[s], p, s, EPOLLIN);
}

static void reap(void) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        if (pid == M.log.compressor) {
            M.log.compressor = 0;
            continue;
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (pid == M.init.pid && !M.init.exited) {
            M.init.exited = 1;
            M.init.exit_code = code;
            proc_maybe_done(&M.init);
        }
    }
}

static void on_output(proc_t *p, int stream) {
    int fd = p->out_fd[stream];
    unsigned char data[READ_CHUNK];
    ssize_t n = read(fd, data, sizeof data);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) { /* EOF, or EIO: the pty's last slave fd closed */
        watch_del(fd);
        close(fd);
        if (p->stdin_fd == fd) p->stdin_fd = -1; /* the pty master is both stdin and output */
        p->out_fd[stream] = -1;
        if (p->is_init) log_flush(&M.log, stream);
        proc_maybe_done(p);
        return;
    }
    if (p->is_init) log_write(&M.log, stream, data, (size_t)n);
    char header[8] = {(char)(stream + 1), 0, 0, 0};
    uint32_t size = htonl((uint32_t)n);
    memcpy(header + 4, &size, 4);
    for (client_t *c = p->clients, *next; c; c = next) {
        next = c->next;
        if (!c->want[stream]) continue;
        int failed = (!p->tty && write_all(c->fd, header, 8) != 0) || write_all(c->fd, (char *)data, (size_t)n) != 0;
        if (failed) client_drop(c);
    }
}

/* Write stdin without ever blocking the loop: a process that does not read its stdin must not stop
 * us draining its stdout. The backlog parks the client until the pipe drains. */
static void feed(client_t *c, proc_t *p, const char *data, size_t len) {
    if (p->stdin_fd < 0) { /* stdin closed meanwhile: drop the backlog, stop polling for it */
        if (c->stdin_waiter >= 0) {
            watch_del(c->stdin_waiter);
            close(c->stdin_waiter);
            c->stdin_waiter = -1;
        }
        c->pending.len = 0;
        return;
    }
    ssize_t written = write(p->stdin_fd, data, len);
    if (written < 0) {
        if (errno != EAGAIN) return; /* the process closed its stdin: drop the bytes, as a pipe would */
        written = 0;
    }
    if ((size_t)written == len) {
        if (c->stdin_waiter >= 0) {
            watch_del(c->stdin_waiter);
            close(c->stdin_waiter);
            c->stdin_waiter = -1;
            c->pending.len = 0;
            watch_add(&c->watch, W_CLIENT, c->fd, c, 0, EPOLLIN);
            c->registered = 1;
        }
        return;
    }
    buf_t rest = {0};
    buf_add(&rest, data + written, len - (size_t)written);
    buf_free(&c->pending);
    c->pending = rest;
    if (c->stdin_waiter < 0) {
        if (c->registered) watch_del(c->fd), c->registered = 0;
        c->stdin_waiter = dup(p->stdin_fd); /* a dup: the pty master may be registered for reading */
        watch_add(&c->waiter_watch, W_STDIN, c->stdin_waiter, c, 0, EPOLLOUT);
    }
}

static void client_stdin(client_t *c, const char *data, size_t len) {
    proc_t *p = c->proc;
    if (!len) { /* the client half-closed: stdin EOF */
        if (c->registered) watch_del(c->fd), c->registered = 0;
        if (c->stdin && p->stdin_fd >= 0 && !p->tty && (p->stdin_once || !p->is_init)) {
            close(p->stdin_fd);
            p->stdin_fd = -1;
        }
        return;
    }
    if (c->stdin && p->stdin_fd >= 0) feed(c, p, data, len);
}

static proc_t *find_exec(const char *id) {
    for (proc_t *p = M.execs; p; p = p->next)
        if (strcmp(p->name, id) == 0) return p;
    return NULL;
}

static void set_blocking(int fd, int blocking) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

static void set_winsize(int fd, long height, long width) {
    struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};
    ioctl(fd, TIOCSWINSZ, &ws);
}

/* ------------------------------------------------------------------------------ requests */

static void error_reply(buf_t *out, const char *kind, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    buf_str(out, "{\"error\":");
    json_quote(out, (unsigned char *)message, strlen(message));
    buf_printf(out, ",\"kind\":\"%s\"}", kind);
}

/* A message from a child ({"error", "errno"…}): add "kind":"exec" when it carries an errno. */
static void child_error(buf_t *out, const char *msg, size_t len) {
    size_t n;
    if (json_get(msg, len, "errno", &n) && !json_get(msg, len, "kind", &n)) {
        const char *close_brace = memrchr(msg, '}', len);
        if (close_brace) {
            buf_add(out, msg, (size_t)(close_brace - msg));
            buf_str(out, ",\"kind\":\"exec\"}");
            return;
        }
    }
    buf_add(out, msg, len);
}

static void op_start(buf_t *out) {
    if (M.init.started || M.sync_fd < 0) return error_reply(out, "conflict", "container already started");
    if (M.init.exited) return error_reply(out, "conflict", "container init has exited");
    M.init.started = 1;
    char stamp[40];
    rfc3339nano(stamp);
    /* state.json as the Python shim wrote it, with started_at filled in */
    buf_t state = {0};
    const char *marker = strstr(M.state_json, "\"started_at\":\"\"");
    if (marker) {
        buf_add(&state, M.state_json, (size_t)(marker - M.state_json));
        buf_printf(&state, "\"started_at\":\"%s\"", stamp);
        buf_str(&state, marker + strlen("\"started_at\":\"\""));
        write_file_atomic(M.state_dir, "state.json", state.data, state.len);
    }
    buf_free(&state);
    send(M.sync_fd, "S", 1, MSG_NOSIGNAL);
    char msg[65536];
    ssize_t n;
    do n = recv(M.sync_fd, msg, sizeof msg, 0); while (n < 0 && errno == EINTR);
    close(M.sync_fd);
    M.sync_fd = -1;
    if (n > 0) { /* init could not exec: its report; EOF means execve succeeded (O_CLOEXEC socket) */
        char *text = json_string(msg, (size_t)n, "error");
        snprintf(M.error, sizeof M.error, "%s", text ? text : "");
        free(text);
        return child_error(out, msg, (size_t)n);
    }
    buf_printf(out, "{\"ok\":true,\"pid\":%d}", M.init.pid);
}

/* The container's ptmx, reached through init's root with openat2(RESOLVE_IN_ROOT): a symlink the
 * container made resolves inside it, never on the host (runtime/linux/console.py does the same). */
static int open_container_ptmx(pid_t init_pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/root", (int)init_pid);
    int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return -1;
    struct { uint64_t flags, mode, resolve; } how = {O_RDWR | O_NOCTTY | O_CLOEXEC, 0, 0x10 | 0x02};
    int fd = (int)syscall(437 /* openat2 */, root, "dev/pts/ptmx", &how, sizeof how);
    close(root);
    int number;
    if (fd >= 0 && ioctl(fd, TIOCGPTN, &number) != 0) { /* not a pty master: do not use it */
        close(fd);
        fd = -1;
    }
    return fd;
}

/* A pty in the container's own devpts (so the process there can name it: tty, ttyname), or the
 * host's when the container's /dev/pts does not answer. */
static int open_pty(int *master, int *slave, long height, long width, pid_t init_pid) {
    *master = init_pid > 0 ? open_container_ptmx(init_pid) : -1;
    if (*master >= 0) {
        int unlock = 0;
        if (ioctl(*master, TIOCSPTLCK, &unlock) == 0)
            *slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        else
            *slave = -1;
        if (*slave < 0) close(*master), *master = -1;
    }
    if (*master < 0) {
        *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (*master < 0 || grantpt(*master) || unlockpt(*master)) return -1;
        char *name = ptsname(*master);
        *slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
        if (*slave < 0) return -1;
    }
    if (height && width) set_winsize(*master, height, width);
    return 0;
}

static void op_exec_create(buf_t *out, const char *req, size_t len) {
    char *id = json_string(req, len, "exec_id");
    if (!id) return error_reply(out, "internal", "exec_create without exec_id");
    if (find_exec(id)) {
        error_reply(out, "conflict", "exec %s already exists", id);
        free(id);
        return;
    }
    size_t n;
    const char *io = json_get(req, len, "io", &n);
    size_t io_len = io ? n : 0;
    const char *process = json_get(req, len, "process", &n);
    proc_t *p = calloc(1, sizeof *p);
    p->name = id;
    p->tty = io ? json_bool(io, io_len, "tty", 0) : 0;
    p->open_stdin = io ? json_bool(io, io_len, "open_stdin", 0) : 0;
    p->stdin_once = 1;
    p->privileged = json_bool(req, len, "privileged", 0);
    p->process_json = strndup(process ? process : "{}", process ? n : 2);
    p->stdin_fd = p->out_fd[0] = p->out_fd[1] = p->helper_fd = -1;
    if (p->tty) {
        int master, slave;
        if (open_pty(&master, &slave, io ? json_int(io, io_len, "console_height", 0) : 0,
                     io ? json_int(io, io_len, "console_width", 0) : 0, M.init.pid) != 0) {
            error_reply(out, "internal", "openpty: %s", strerror(errno));
            free(p->name), free(p->process_json), free(p);
            return;
        }
        p->stdin_fd = p->out_fd[0] = master;
        p->child_fds[0] = p->child_fds[1] = p->child_fds[2] = slave;
    } else {
        int fds[2];
        if (p->open_stdin) {
            if (pipe2(fds, O_CLOEXEC) != 0) die("pipe");
            p->stdin_fd = fds[1], p->child_fds[0] = fds[0];
        } else {
            p->child_fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        for (int s = 0; s < 2; s++) {
            if (pipe2(fds, O_CLOEXEC) != 0) die("pipe");
            p->out_fd[s] = fds[0], p->child_fds[s + 1] = fds[1];
        }
    }
    if (p->stdin_fd >= 0) set_blocking(p->stdin_fd, 0);
    p->next = M.execs;
    M.execs = p;
    buf_str(out, "{\"ok\":true}");
}

/* Connect to the forkserver's socket (through /proc/self/fd for paths longer than sun_path). */
static int forkserver_connect(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int dirfd = unix_addr(M.forkserver_sock, &addr);
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    if (dirfd >= 0) close(dirfd);
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void op_exec_start(buf_t *out, proc_t *p) {
    if (p->started) return error_reply(out, "conflict", "exec %s already started", p->name);
    if (!M.init.started || M.init.exited)
        return error_reply(out, "conflict", "container %s is not running", M.container_id);
    p->started = 1;
    buf_t request = {0};
    buf_str(&request, "{\"op\":\"exec\",\"state_dir\":");
    json_quote(&request, (unsigned char *)M.state_dir, strlen(M.state_dir));
    buf_printf(&request, ",\"tty\":%s,\"privileged\":%s,\"process\":", p->tty ? "true" : "false",
               p->privileged ? "true" : "false");
    buf_str(&request, p->process_json);
    buf_str(&request, "}\n");
    int conn = forkserver_connect();
    int sent = -1;
    if (conn >= 0) {
        struct iovec iov = {.iov_base = request.data, .iov_len = request.len};
        char control[CMSG_SPACE(3 * sizeof(int))];
        memset(control, 0, sizeof control);
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET, cmsg->cmsg_type = SCM_RIGHTS, cmsg->cmsg_len = CMSG_LEN(3 * sizeof(int));
        memcpy(CMSG_DATA(cmsg), p->child_fds, 3 * sizeof(int));
        sent = sendmsg(conn, &msg, MSG_NOSIGNAL) == (ssize_t)request.len ? 0 : -1;
    }
    buf_free(&request);
    close(p->child_fds[0]);
    if (p->child_fds[1] != p->child_fds[0]) close(p->child_fds[1]);
    if (p->child_fds[2] != p->child_fds[1]) close(p->child_fds[2]);
    proc_watch(p);
    /* The helper's first line: the exec's result ({"ok":true,"pid"} or the error); its second, later:
     * {"exit_code"}. */
    char *line = NULL;
    if (sent == 0) {
        for (;;) {
            char *nl = p->helper_in.len ? memchr(p->helper_in.data, '\n', p->helper_in.len) : NULL;
            if (nl) {
                line = strndup(p->helper_in.data, (size_t)(nl - p->helper_in.data));
                buf_consume(&p->helper_in, (size_t)(nl - p->helper_in.data) + 1);
                break;
            }
            char chunk[4096];
            ssize_t n = recv(conn, chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            buf_add(&p->helper_in, chunk, (size_t)n);
        }
    }
    if (!line) {
        if (conn >= 0) close(conn);
        p->exited = 1, p->exit_code = 126;
        error_reply(out, "internal", "exec helper died (is the daemon's forkserver running?)");
        proc_maybe_done(p);
        return;
    }
    size_t len = strlen(line);
    p->pid = (int)json_int(line, len, "pid", 0);
    p->helper_fd = conn;
    watch_add(&p->helper_watch, W_HELPER, conn, p, 0, EPOLLIN);
    size_t n;
    if (json_get(line, len, "error", &n)) child_error(out, line, len); /* its exit code follows */
    else buf_printf(out, "{\"ok\":true,\"pid\":%d}", p->pid);
    free(line);
}

static void on_helper(proc_t *p) {
    char chunk[4096];
    ssize_t n = recv(p->helper_fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) return;
    if (n > 0) buf_add(&p->helper_in, chunk, (size_t)n);
    char *nl = p->helper_in.len ? memchr(p->helper_in.data, '\n', p->helper_in.len) : NULL;
    if (n > 0 && !nl) return;
    if (nl) p->exit_code = (int)json_int(p->helper_in.data, (size_t)(nl - p->helper_in.data), "exit_code", 137);
    else p->exit_code = 137; /* the helper went away without telling: as if killed */
    watch_del(p->helper_fd);
    close(p->helper_fd);
    p->helper_fd = -1;
    p->exited = 1;
    proc_maybe_done(p);
}

/* Serve one request; returns 1 to keep the connection (attach, exec_wait). */
static int handle(client_t *c, const char *req, size_t len) {
    buf_t out = {0};
    int keep = 0;
    char *op = json_string(req, len, "op");
    proc_t *p = NULL;
    if (op && (strcmp(op, "exec_attach") == 0 || strcmp(op, "exec_start") == 0 ||
               strcmp(op, "exec_wait") == 0 || strcmp(op, "exec_resize") == 0)) {
        char *id = json_string(req, len, "exec_id");
        p = id ? find_exec(id) : NULL;
        if (!p) {
            error_reply(&out, "notfound", "no such exec instance: %s", id ? id : "None");
            free(id);
            goto done;
        }
        free(id);
    }
    if (!op) {
        error_reply(&out, "internal", "request without op");
    } else if (strcmp(op, "start") == 0) {
        op_start(&out);
    } else if (strcmp(op, "attach") == 0 || strcmp(op, "exec_attach") == 0) {
        int is_exec = op[0] == 'e';
        if (!is_exec) p = &M.init;
        c->proc = p;
        c->want[0] = json_bool(req, len, "stdout", is_exec);
        c->want[1] = json_bool(req, len, "stderr", is_exec);
        c->stdin = json_bool(req, len, "stdin", 0) && p->stdin_fd >= 0;
        buf_str(&out, "{\"ok\":true}");
        if (!(proc_done(p) || (p->exited && p->out_fd[0] < 0 && p->out_fd[1] < 0))) {
            /* A client that stops reading is dropped after 10 s instead of stalling the container. */
            struct timeval tv = {.tv_sec = 10};
            setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            c->next = p->clients;
            p->clients = c;
            keep = 1; /* stays registered: its reads are stdin (or hang-up) */
        } else {
            c->proc = NULL;
        }
    } else if (strcmp(op, "resize") == 0 || strcmp(op, "exec_resize") == 0) {
        if (!p) p = &M.init;
        /* The kernel sends SIGWINCH to the terminal's foreground process group. */
        if (p->tty && p->stdin_fd >= 0)
            set_winsize(p->stdin_fd, json_int(req, len, "height", 0), json_int(req, len, "width", 0));
        buf_str(&out, "{\"ok\":true}");
    } else if (strcmp(op, "exec_create") == 0) {
        op_exec_create(&out, req, len);
    } else if (strcmp(op, "exec_start") == 0) {
        op_exec_start(&out, p);
    } else if (strcmp(op, "exec_wait") == 0) {
        if (proc_done(p) || (!p->started && M.init.exited)) {
            buf_printf(&out, "{\"ok\":true,\"exit_code\":%d}", p->exited ? p->exit_code : -1);
            reply(c->fd, out.data);
            buf_free(&out);
            proc_forget(p); /* its exit is collected (a no-op unless it is done) */
            free(op);
            return 0;
        }
        if (p->nwaiters < (int)(sizeof p->waiters / sizeof p->waiters[0])) {
            if (c->registered) watch_del(c->fd), c->registered = 0;
            p->waiters[p->nwaiters++] = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
        }
        free(op);
        return 0; /* the dup in waiters answers later; this client's own fd closes now */
    } else {
        error_reply(&out, "internal", "unknown op '%s'", op);
    }
done:
    if (out.len) reply(c->fd, out.data);
    buf_free(&out);
    free(op);
    return keep;
}

static void on_client(client_t *c) {
    char data[65536];
    ssize_t n = recv(c->fd, data, sizeof data, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n < 0) n = 0;
    if (c->proc) { /* attached: stdin bytes or EOF */
        client_stdin(c, data, (size_t)n);
        return;
    }
    if (n == 0) return client_drop(c);
    buf_add(&c->in, data, (size_t)n);
    char *nl = memchr(c->in.data, '\n', c->in.len);
    if (!nl) return;
    size_t line_len = (size_t)(nl - c->in.data);
    char *line = strndup(c->in.data, line_len);
    buf_t rest = {0};
    buf_add(&rest, nl + 1, c->in.len - line_len - 1);
    c->in.len = 0;
    int keep = handle(c, line, line_len);
    free(line);
    if (!keep) client_drop(c);
    else if (rest.len) client_stdin(c, rest.data, rest.len); /* stdin sent right behind the attach */
    buf_free(&rest);
}

static void on_accept(void) {
    int fd = accept4(M.listener, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) return;
    client_t *c = calloc(1, sizeof *c);
    c->fd = fd;
    c->stdin_waiter = -1;
    watch_add(&c->watch, W_CLIENT, fd, c, 0, EPOLLIN);
    c->registered = 1;
}

/* ------------------------------------------------------------------------------ exit */

static int oom_killed(void) {
    if (!M.oom_file[0]) return 0;
    FILE *f = fopen(M.oom_file, "re");
    if (!f) return 0;
    char line[256];
    long count = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "oom_kill ", 9) == 0) count = strtol(line + 9, NULL, 10);
    fclose(f);
    return count > 0;
}

static void finish(void) {
    log_flush(&M.log, 0);
    log_flush(&M.log, 1);
    log_wait_compressor(&M.log); /* every rotated file is compressed before the exit is recorded */
    char stamp[40];
    rfc3339nano(stamp);
    buf_t out = {0};
    buf_printf(&out, "{\"exit_code\":%d,\"oom_killed\":%s,\"finished_at\":\"%s\",\"error\":", M.init.exit_code,
               oom_killed() ? "true" : "false", stamp);
    json_quote(&out, (unsigned char *)M.error, strlen(M.error));
    buf_str(&out, "}");
    write_file_atomic(M.state_dir, "exit.json", out.data, out.len);
    char sock[PATH_MAX];
    snprintf(sock, sizeof sock, "%s/shim.sock", M.state_dir);
    unlink(sock);
    exit(0);
}

static int all_done(void) {
    if (!proc_done(&M.init)) return 0;
    for (proc_t *p = M.execs; p; p = p->next)
        if (p->started && !proc_done(p)) return 0;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 21) {
        fprintf(stderr, "usage: berth-monitor (20 arguments; see the source)\n");
        return 2;
    }
    M.state_dir = argv[1];
    M.container_id = M_notice_id = argv[2];
    M_notices_sock = argv[20];
    M.init.name = "init";
    M.init.is_init = 1;
    M.init.pid = atoi(argv[3]);
    M.init.tty = atoi(argv[4]);
    M.init.open_stdin = atoi(argv[5]);
    M.init.stdin_once = atoi(argv[6]);
    M.init.started = 0;
    M.init.stdin_fd = atoi(argv[7]);
    M.init.out_fd[0] = atoi(argv[8]);
    M.init.out_fd[1] = atoi(argv[9]);
    M.init.helper_fd = -1;
    M.sync_fd = atoi(argv[10]);
    M.listener = atoi(argv[11]);
    M.log.fd = -1;
    if (argv[12][0]) {
        snprintf(M.log.path, sizeof M.log.path, "%s", argv[12]);
        M.log.max_size = atol(argv[13]);
        M.log.max_files = atoi(argv[14]) > 0 ? atoi(argv[14]) : 1;
        M.log.compress = atoi(argv[15]) && M.log.max_files > 1;
        M_log_attrs = argv[16];
        log_open(&M.log, 0);
    }
    M.oom_file = argv[17];
    M.forkserver_sock = argv[18];
    M.state_json = argv[19];
    /* our own descriptors must not leak into exec'd processes */
    int own[] = {M.init.stdin_fd, M.init.out_fd[0], M.init.out_fd[1], M.sync_fd, M.listener};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (own[i] >= 0) fcntl(own[i], F_SETFD, FD_CLOEXEC);
    if (M.init.stdin_fd >= 0) set_blocking(M.init.stdin_fd, 0);

    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    M.epoll = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || M.epoll < 0) die("signalfd/epoll");
    static watch_t signal_watch, listener_watch;
    watch_add(&signal_watch, W_SIGNAL, sfd, NULL, 0, EPOLLIN);
    watch_add(&listener_watch, W_LISTENER, M.listener, NULL, 0, EPOLLIN);
    proc_watch(&M.init);
    reap();
    while (!all_done()) {
        struct epoll_event events[16];
        int n = epoll_wait(M.epoll, events, 16, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            watch_t *w = events[i].data.ptr;
            switch (w->kind) {
            case W_SIGNAL: {
                struct signalfd_siginfo info;
                while (read(sfd, &info, sizeof info) > 0) {}
                reap();
                break;
            }
            case W_LISTENER: on_accept(); break;
            case W_OUTPUT: {
                proc_t *p = w->obj;
                if (p->out_fd[w->stream] == w->fd) on_output(p, w->stream);
                break;
            }
            case W_CLIENT: on_client(w->obj); break;
            case W_STDIN: {
                client_t *c = w->obj;
                if (c->proc) feed(c, c->proc, c->pending.data, c->pending.len);
                break;
            }
            case W_HELPER: on_helper(w->obj); break;
            }
            /* a handler may have freed objects other events point at: handle one event per wait */
            break;
        }
    }
    finish();
}
