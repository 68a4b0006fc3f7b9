/*
 * test_walbuf.c — the WAL-buffering VFS (store/walbuf.h) keeps SQLite's
 * promises: a commit it returned from is in the file and visible to
 * another connection, a write that fails fails the commit and shows
 * nothing, frames written mid-transaction read back, and a connection at
 * synchronous=NORMAL is not buffered at all. Writes are failed through the
 * unix VFS's own system-call table (xSetSystemCall), which the wrapper
 * shares.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/walbuf.h"

struct fx {
    char dir[256];
    char path[300];
    sqlite3 *a, *b; /* a writes through the buffer, b reads */
};

/* Runs sql on db; the test fails unless it succeeds. */
static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    assert_int_equal(rc, SQLITE_OK);
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    assert_int_equal(sqlite3_open_v2(path, &db, flags, WALBUF_VFS), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                " CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB);"
                " SELECT count(*) FROM t;");
    return db;
}

static int setup(void **state)
{
    assert_int_equal(walbuf_register(), SQLITE_OK);
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/herald-walbuf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    f->a = open_db(f->path);
    f->b = open_db(f->path);
    assert_true(walbuf_buffer(f->a, true));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    sqlite3_close(f->a);
    sqlite3_close(f->b);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

/* Inserts n rows of size bytes each in one transaction; SQLite's result. */
static int insert_rows(sqlite3 *db, int n, int size)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (zeroblob(?))", -1, &st, NULL);
    for (int i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_int(st, 1, size);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int64_t count_rows(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void assert_intact(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* A commit of many pages reaches the file in a few writes, and the other
 * connection sees every row as soon as COMMIT returns. */
static void test_commit_is_written_in_few_calls_and_visible(void **state)
{
    struct fx *f = *state;
    struct walbuf_stats s0, s1;
    walbuf_stats(&s0);
    assert_int_equal(insert_rows(f->a, 200, 1000), SQLITE_OK);
    walbuf_stats(&s1);
    uint64_t appends = s1.appends - s0.appends, writes = s1.writes - s0.writes;
    /* ~60 pages: two appends each (header, page), written in 64 KB calls. */
    assert_true(appends >= 100);
    assert_true(writes * 10 <= appends);
    assert_int_equal(s1.barrier_writes, s0.barrier_writes);
    assert_int_equal(count_rows(f->b), 200);
    assert_intact(f->b);
}

/* Runs child(path) in a process that then dies without closing anything
 * (SQLite's per-process lock bookkeeping must not cross fork(), so the
 * fixture's connections close first); the test fails unless child
 * returned true. f->b is then a fresh connection to what the process left. */
static void in_dying_process(struct fx *f, bool (*child)(const char *path))
{
    sqlite3_close(f->a);
    sqlite3_close(f->b);
    f->a = f->b = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child(f->path) ? 0 : 1); /* no close: the connection's memory is gone */
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    f->b = open_db(f->path);
}

static bool commit_then_die(const char *path)
{
    sqlite3 *db = open_db(path);
    struct walbuf_stats s0, s1;
    walbuf_stats(&s0);
    bool ok = walbuf_buffer(db, true) && insert_rows(db, 50, 3000) == SQLITE_OK;
    walbuf_stats(&s1);
    /* Written by the commit's sync, not by the barrier's safety net. */
    return ok && s1.writes > s0.writes && s1.barrier_writes == s0.barrier_writes;
}

/* A process that dies right after COMMIT returned has left the commit in
 * the file: nothing it held in memory was needed. */
static void test_commit_survives_the_process(void **state)
{
    struct fx *f = *state;
    in_dying_process(f, commit_then_die);
    assert_int_equal(count_rows(f->b), 50);
    assert_intact(f->b);
}

#define PREFILL_BYTES (2 * 1024 * 1024)

static bool wal_is_prefilled(const char *path)
{
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat st;
    return stat(wal, &st) == 0 && st.st_size == PREFILL_BYTES;
}

static bool prefill_commit_then_die(const char *path)
{
    sqlite3 *db = open_db(path);
    bool ok = walbuf_buffer(db, true) && insert_rows(db, 10, 1000) == SQLITE_OK;
    ok = ok && sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    ok = ok && walbuf_prefill(db, PREFILL_BYTES) == SQLITE_OK;
    ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    ok = ok && wal_is_prefilled(path);
    ok = ok && insert_rows(db, 40, 3000) == SQLITE_OK;
    return ok && wal_is_prefilled(path); /* written inside, not grown */
}

/* A prefilled WAL: commits land inside the zeros without growing the file,
 * and a process that dies leaves every commit readable, the zeroed frames
 * after them read as the log's end. */
static void test_prefilled_wal_keeps_its_length_and_its_commits(void **state)
{
    struct fx *f = *state;
    in_dying_process(f, prefill_commit_then_die);
    assert_int_equal(count_rows(f->b), 50);
    assert_intact(f->b);
    /* Another VFS's connection has nothing to fill. */
    sqlite3 *plain = NULL;
    assert_int_equal(sqlite3_open(f->path, &plain), SQLITE_OK);
    exec_ok(plain, "SELECT count(*) FROM t");
    assert_int_equal(walbuf_prefill(plain, 1), SQLITE_NOTFOUND);
    sqlite3_close(plain);
}

static atomic_bool fail_writes;
static int fail_errno = EIO; /* EIO rolls a transaction back, ENOSPC a statement */
static sqlite3_syscall_ptr real_pwrite, real_pwrite64;

static ssize_t failing_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (atomic_load(&fail_writes)) {
        errno = fail_errno;
        return -1;
    }
    return ((ssize_t(*)(int, const void *, size_t, off_t))real_pwrite)(fd, buf, n, off);
}

static ssize_t failing_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    if (atomic_load(&fail_writes)) {
        errno = fail_errno;
        return -1;
    }
    return ((ssize_t(*)(int, const void *, size_t, off_t))real_pwrite64)(fd, buf, n, off);
}

/* Installs the failing writes in the unix VFS (which walbuf forwards to),
 * or puts the real ones back. */
static void hook_writes(bool on)
{
    sqlite3_vfs *v = sqlite3_vfs_find(WALBUF_VFS);
    assert_non_null(v);
    assert_true(v->iVersion >= 3 && v->xSetSystemCall);
    if (on) {
        real_pwrite = v->xGetSystemCall(v, "pwrite");
        real_pwrite64 = v->xGetSystemCall(v, "pwrite64");
        assert_true(real_pwrite || real_pwrite64);
    }
    if (real_pwrite)
        v->xSetSystemCall(v, "pwrite", on ? (sqlite3_syscall_ptr)failing_pwrite : real_pwrite);
    if (real_pwrite64)
        v->xSetSystemCall(v, "pwrite64",
                          on ? (sqlite3_syscall_ptr)failing_pwrite64 : real_pwrite64);
}

/* The held frames are written at the commit's sync; when that write fails
 * the COMMIT fails, the reader sees none of it, the writer still reads
 * what was committed, and it goes on committing once writes work again. */
static void test_failed_write_fails_the_commit(void **state)
{
    struct fx *f = *state;
    assert_int_equal(insert_rows(f->a, 10, 500), SQLITE_OK);
    hook_writes(true);
    atomic_store(&fail_writes, true);
    int rc = insert_rows(f->a, 100, 1000);
    /* Reads of what is committed still work while writes fail (a full
     * disk): the failed frames are not retried on every access. */
    assert_int_equal(count_rows(f->a), 10);
    atomic_store(&fail_writes, false);
    hook_writes(false);
    assert_int_not_equal(rc, SQLITE_OK);
    assert_int_equal(count_rows(f->b), 10);
    assert_int_equal(insert_rows(f->a, 20, 500), SQLITE_OK);
    assert_int_equal(count_rows(f->b), 30);
    assert_intact(f->b);
}

/* A transaction larger than the page cache spills frames to the WAL before
 * COMMIT and reads them back; rolled back, then redone, the database holds
 * exactly the second one. */
static void test_spilled_frames_read_back(void **state)
{
    struct fx *f = *state;
    exec_ok(f->a, "PRAGMA cache_size=10");
    exec_ok(f->a, "BEGIN IMMEDIATE");
    exec_ok(f->a, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                  " WHERE i < 400) INSERT INTO t(v) SELECT randomblob(900) FROM n;"
                  " UPDATE t SET v = randomblob(800);");
    assert_int_equal(count_rows(f->a), 400);
    exec_ok(f->a, "ROLLBACK");
    assert_int_equal(count_rows(f->b), 0);
    assert_int_equal(insert_rows(f->a, 300, 900), SQLITE_OK);
    assert_int_equal(count_rows(f->b), 300);
    assert_intact(f->a);
    assert_intact(f->b);
}

/* Frames spilled by a transaction that is then rolled back are dropped
 * when it releases the write lock: written later, they would land on
 * frames another connection committed at the same offsets meanwhile. */
static void test_rolled_back_frames_are_never_written(void **state)
{
    struct fx *f = *state;
    assert_int_equal(insert_rows(f->a, 1, 100), SQLITE_OK);
    exec_ok(f->b, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec_ok(f->a, "PRAGMA cache_size=10");
    exec_ok(f->a, "BEGIN IMMEDIATE; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
                  " SELECT i + 1 FROM n WHERE i < 400)"
                  " INSERT INTO t(v) SELECT randomblob(900) FROM n; ROLLBACK;");
    assert_int_equal(insert_rows(f->b, 20, 3000), SQLITE_OK);
    assert_int_equal(count_rows(f->a), 21);
    assert_intact(f->a);
    sqlite3_close(f->a); /* nothing held may reach the file at close either */
    f->a = NULL;
    sqlite3 *c = open_db(f->path);
    assert_int_equal(count_rows(c), 21);
    assert_intact(c);
    sqlite3_close(c);
}

/* A write that fails while a read flushes (spilled frames read back) is a
 * statement's error to SQLite; the transaction must still not commit
 * without those frames. */
static void test_failed_flush_on_read_cannot_commit(void **state)
{
    struct fx *f = *state;
    exec_ok(f->a, "CREATE TABLE u(id INTEGER PRIMARY KEY, v BLOB, k INT UNIQUE);"
                  " PRAGMA cache_size=10;");
    exec_ok(f->a, "BEGIN IMMEDIATE; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
                  " SELECT i + 1 FROM n WHERE i < 300)"
                  " INSERT INTO u(v, k) SELECT randomblob(900), i FROM n;");
    hook_writes(true);
    fail_errno = ENOSPC; /* a full disk: SQLite undoes only the statement */
    atomic_store(&fail_writes, true);
    int rc = sqlite3_exec(f->a, "UPDATE u SET k = k + 1000", NULL, NULL, NULL);
    atomic_store(&fail_writes, false);
    fail_errno = EIO;
    hook_writes(false);
    assert_int_equal(rc, SQLITE_FULL);
    assert_false(sqlite3_get_autocommit(f->a));
    sqlite3_exec(f->a, "INSERT INTO u(v, k) VALUES (x'01', -1)", NULL, NULL, NULL);
    assert_int_not_equal(sqlite3_exec(f->a, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_exec(f->a, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->b, "SELECT count(*) FROM u", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 0);
    sqlite3_finalize(st);
    assert_intact(f->b);
    assert_int_equal(insert_rows(f->a, 5, 100), SQLITE_OK);
    assert_int_equal(count_rows(f->b), 5);
}

/* Where SQLite would pad a commit's last frame after its sync (no
 * powersafe overwrite), or keeps the wal-index to itself (exclusive
 * locking mode, set before or after buffering was turned on), the WAL is
 * not buffered. */
static void test_unsafe_modes_are_refused(void **state)
{
    struct fx *f = *state;
    char uri[400];
    snprintf(uri, sizeof uri, "file:%s/p.db?psow=0", f->dir);
    sqlite3 *p = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI;
    assert_int_equal(sqlite3_open_v2(uri, &p, flags, WALBUF_VFS), SQLITE_OK);
    exec_ok(p, "PRAGMA journal_mode=WAL; CREATE TABLE t(x);");
    assert_false(walbuf_buffer(p, true));
    sqlite3_close(p);

    sqlite3_close(f->a);
    sqlite3_close(f->b);
    f->a = f->b = NULL;
    sqlite3 *x = NULL;
    assert_int_equal(sqlite3_open_v2(f->path, &x, SQLITE_OPEN_READWRITE, WALBUF_VFS), SQLITE_OK);
    exec_ok(x, "PRAGMA locking_mode=EXCLUSIVE; SELECT count(*) FROM t;");
    assert_false(walbuf_buffer(x, true));
    sqlite3_close(x);

    /* Turned exclusive after buffering was on: buffering stops, and a
     * write that fails once does not fail every later one. */
    x = open_db(f->path);
    assert_true(walbuf_buffer(x, true));
    exec_ok(x, "PRAGMA locking_mode=EXCLUSIVE");
    struct walbuf_stats s0, s1;
    walbuf_stats(&s0);
    hook_writes(true);
    fail_errno = ENOSPC;
    atomic_store(&fail_writes, true);
    assert_int_not_equal(insert_rows(x, 50, 1000), SQLITE_OK);
    atomic_store(&fail_writes, false);
    fail_errno = EIO;
    hook_writes(false);
    assert_int_equal(insert_rows(x, 50, 1000), SQLITE_OK);
    walbuf_stats(&s1);
    assert_int_equal(s1.appends, s0.appends);
    assert_int_equal(count_rows(x), 50);
    assert_intact(x);
    sqlite3_close(x);
}

/* At synchronous=NORMAL a commit has no sync to report a failed write, so
 * the store turns buffering off first: every frame goes straight through. */
static void test_unbuffered_connection_writes_through(void **state)
{
    struct fx *f = *state;
    assert_true(walbuf_buffer(f->a, false));
    exec_ok(f->a, "PRAGMA synchronous=NORMAL");
    struct walbuf_stats s0, s1;
    walbuf_stats(&s0);
    assert_int_equal(insert_rows(f->a, 100, 1000), SQLITE_OK);
    walbuf_stats(&s1);
    assert_int_equal(s1.appends, s0.appends);
    assert_int_equal(s1.barrier_writes, s0.barrier_writes);
    assert_int_equal(count_rows(f->b), 100);
}

/* A connection of the default VFS is left alone. */
static void test_other_vfs_is_not_buffered(void **state)
{
    struct fx *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    exec_ok(db, "SELECT count(*) FROM t");
    assert_false(walbuf_buffer(db, true));
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_is_written_in_few_calls_and_visible, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_survives_the_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefilled_wal_keeps_its_length_and_its_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spilled_frames_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_frames_are_never_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_flush_on_read_cannot_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsafe_modes_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unbuffered_connection_writes_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_vfs_is_not_buffered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
