/*
 * fault_preload.c — an LD_PRELOAD shim that makes the disk fail on demand,
 * for tests/integration/test_faults.py. Never linked into herald.
 *
 *   HERALD_FAULT_CONTROL=/tmp/x/fault.on   the switch: faults are injected
 *                                          while this file exists
 *   HERALD_FAULT_PATH=herald.db            (optional) syncs fail only for
 *                                          files whose path contains this;
 *                                          default: every regular file
 *   HERALD_FAULT_WRITES=herald.db-wal      (optional) writes to files whose
 *                                          path contains this fail too;
 *                                          unset: writes always pass
 *
 * While the switch is on, fsync() and fdatasync() of a matching file fail
 * with EIO without syncing (SQLite's WAL commit calls fdatasync), and with
 * HERALD_FAULT_WRITES so do write(), pwrite() and pwrite64() to a file
 * matching it (nothing is written). Each injected failure prints one line
 * on stderr,
 * "herald-fault: fdatasync EIO /path", so the test can prove the fault
 * really fired. Everything else passes through to the next definition
 * (libc, or a sanitizer's interceptor).
 *
 * Checking the switch costs an access(2) per call: fine for a test.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

typedef int (*sync_fn)(int);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);

/* The next definition of name (dlsym is safe to call repeatedly; the
 * result is cached by each caller). */
static void *next_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "herald-fault: dlsym failed\n";
        syscall(SYS_write, 2, msg, sizeof msg - 1);
        abort();
    }
    return p;
}

/* The switch is read on every call, so a test can flip it mid-run. */
static bool fault_on(void)
{
    const char *ctl = getenv("HERALD_FAULT_CONTROL");
    return ctl && *ctl && access(ctl, F_OK) == 0;
}

/* Whether fd is a regular file whose path contains want ("" or NULL:
 * any). Sockets, pipes and the terminal never match, so logs and the API
 * are left alone. */
static bool fd_matches(int fd, const char *want, char *path, size_t cap)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, cap - 1);
    if (n < 0)
        return false;
    path[n] = '\0';
    return !want || !*want || strstr(path, want) != NULL;
}

/* Writes the report straight to fd 2 with the syscall, so it never goes
 * through this shim's own write(). */
static void report(const char *what, const char *path)
{
    char line[PATH_MAX + 64];
    int n = snprintf(line, sizeof line, "herald-fault: %s EIO %s\n", what, path);
    if (n > 0)
        syscall(SYS_write, 2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* True when this call must fail: the switch is on and fd matches. */
static bool inject(const char *what, int fd, bool is_write)
{
    const char *want = getenv(is_write ? "HERALD_FAULT_WRITES" : "HERALD_FAULT_PATH");
    if (is_write && (!want || !*want))
        return false;
    char path[PATH_MAX];
    if (!fault_on() || !fd_matches(fd, want, path, sizeof path))
        return false;
    report(what, path);
    return true;
}

int fsync(int fd)
{
    static sync_fn real;
    if (!real)
        real = (sync_fn)next_sym("fsync");
    if (inject("fsync", fd, false)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int fdatasync(int fd)
{
    static sync_fn real;
    if (!real)
        real = (sync_fn)next_sym("fdatasync");
    if (inject("fdatasync", fd, false)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static write_fn real;
    if (!real)
        real = (write_fn)next_sym("write");
    if (inject("write", fd, true)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static pwrite_fn real;
    if (!real)
        real = (pwrite_fn)next_sym("pwrite");
    if (inject("pwrite", fd, true)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    static pwrite64_fn real;
    if (!real)
        real = (pwrite64_fn)next_sym("pwrite64");
    if (inject("pwrite64", fd, true)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n, off);
}
