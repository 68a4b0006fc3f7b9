/*
 * sqlite.c — the SQLite backend of the store (store.h).
 *
 * Shape:
 *  - A pool of connections, each with every statement prepared once at
 *    open (sqlite_sql.h), handed out under a mutex and condition variable.
 *  - WAL with synchronous=FULL: a commit is on disk before we return, so a
 *    202 survives power loss; the committer (commit.h) batches many events
 *    into one transaction so the fsync is shared.
 *  - SQLite has one writer per database. Write transactions in this process
 *    take write_mu (a first-come-first-served ticket lock) before BEGIN
 *    IMMEDIATE, so they queue in order instead of spinning in SQLite's busy
 *    handler (which sleeps in steps of up to 100 ms); busy_timeout only
 *    covers other processes (the CLI).
 *  - Deliveries carry due_at (sqlite_schema.h): claim_due and next_due walk
 *    a partial index of claimable rows only.
 *  - Connections open through walbuf (walbuf.h), which writes a synced
 *    commit's WAL frames in one call instead of two per page.
 *  - Checkpoints (copying the WAL into the database file, with an fsync)
 *    run on a thread of their own, not inside whichever commit crossed
 *    SQLite's threshold: that commit used to be an ingest batch or the
 *    dispatcher's store worker, stalled for the copy (checkpointer below).
 *
 * Choices where store.h leaves room (tests/unit/test_store.c pins them, so
 * the PostgreSQL backend must make the same ones):
 *  - ingest: an only_webhook_id that is not the account's webhook fails the
 *    whole call with HERALD_ENOTFOUND; so does an unknown account. On a
 *    duplicate, first_delivery_id is "" (nothing was created).
 *  - webhook_update leaves last_execution_at and failing_since to record(),
 *    except that enabling a disabled webhook resets failing_since to 0.
 *  - Disabling a webhook parks its pending and in-flight deliveries;
 *    enabling it makes them due again. next_due is therefore exact: it
 *    ignores deliveries of disabled webhooks and stays index-only.
 *  - delivery_retry answers HERALD_ENOTFOUND for a delivery whose webhook
 *    was deleted (it could never be sent).
 *  - recover: until <= 0 means no upper bound.
 *  - An attempt counts as a success for attempt_list's status filter when
 *    its outcome was STORE_SUCCEEDED.
 *  - Lists accept count 1..1000 (HERALD_EINVAL otherwise); the webhook
 *    list's order defaults to created_at when q->order is NULL.
 *  - attempt_series: bucket_ms <= 0 is HERALD_EINVAL.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/id.h"
#include "core/log.h"
#include "core/match.h"
#include "core/util.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_sql.h"
#include "store/store.h"
#include "store/walbuf.h"

#define DAY_MS (24LL * 3600 * 1000)
#define BUSY_TIMEOUT_MS 10000
#define LIST_COUNT_MAX 1000

/* The VFS every connection opens with: walbuf's once registered (by
 * sqlite_global_config), else SQLite's default. */
static const char *vfs_name;

enum st {
#define X(name, sql) ST_##name,
    SQL_STATEMENTS(X)
#undef X
        ST_COUNT
};

/* Statement variants are picked by offset from the first of their group. */
_Static_assert(ST_WH_LIST_MODIFIED_AT_DESC == ST_WH_LIST_NAME_ASC + 11, "webhook list orders");
_Static_assert(ST_ATT_LIST_ACCOUNT == ST_ATT_LIST_WEBHOOK + 3, "attempt list leads");
_Static_assert(ST_ATT_COUNT_ACCOUNT == ST_ATT_COUNT_WEBHOOK + 3, "attempt count leads");

static const char *const st_sql[ST_COUNT] = {
#define X(name, sql) [ST_##name] = sql,
    SQL_STATEMENTS(X)
#undef X
};

/* Delivery statuses, as indexes of a write transaction's count changes. */
enum { CNT_PENDING, CNT_IN_FLIGHT, CNT_SUCCEEDED, CNT_FAILED, CNT__N };
static const char *const cnt_names[CNT__N] = {"pending", "in_flight", "succeeded", "failed"};

struct fan_cache;

struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    /* How many deliveries this write transaction moved into (+) or out of
     * (-) each status; written to delivery_counts just before COMMIT. */
    int64_t delta[CNT__N];
    /* synchronous=NORMAL may be in force: a claim or a deferral relaxed it
     * (tx_begin_relaxed) and putting FULL back has not succeeded yet. */
    bool sync_off;
    /* Ingest's fan-out cache and the webhooks_version it was read at
     * (fan_cache_current). NULL until the first ingest. */
    struct fan_cache *fan;
    int64_t fan_version;
};

static int cnt_index(const char *status)
{
    for (int i = 0; i < CNT__N; i++)
        if (strcmp(status, cnt_names[i]) == 0)
            return i;
    return -1;
}

/* Notes that n deliveries went from status `from` (-1: newly created) to
 * status `to`. */
static void count_move(struct conn *c, int from, int to, int64_t n)
{
    if (from >= 0)
        c->delta[from] -= n;
    if (to >= 0)
        c->delta[to] += n;
}

/* The one-writer lock, first come first served. A plain mutex lets the
 * thread that just released it take it straight back: with ingest
 * committing back to back, the group commit kept it for seconds while the
 * dispatcher's claims and results waited, and deliveries fell behind
 * ingest at well under either's own rate (bench E). */
struct write_lock {
    pthread_mutex_t mu;
    pthread_cond_t turn;
    uint64_t next, serving; /* tickets */
};

static void write_lock_init(struct write_lock *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->turn, NULL);
    w->next = w->serving = 0;
}

static void write_lock_destroy(struct write_lock *w)
{
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->turn);
}

static void write_lock(struct write_lock *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t mine = w->next++;
    while (w->serving != mine)
        pthread_cond_wait(&w->turn, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void write_unlock(struct write_lock *w)
{
    pthread_mutex_lock(&w->mu);
    w->serving++;
    bool waiting = w->next != w->serving;
    pthread_mutex_unlock(&w->mu);
    if (waiting)
        pthread_cond_broadcast(&w->turn);
}

/* The checkpoint thread and its own connection. */
struct checkpointer {
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wanted, stop;
    int copied; /* WAL frames in the database after the last pass */
    sqlite3 *db;
    struct write_lock *write_mu; /* the store's: held for a checkpoint's last step */
    int64_t last_warn;
};

struct sq {
    struct store base; /* base.impl points back here */
    struct checkpointer ck;
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* a connection was returned */
    struct conn *conns; /* cap_conns slots, the first n_conns open */
    int n_conns, cap_conns;
    int *idle; /* stack of indexes of idle connections */
    int n_idle;
    char *path;
    struct write_lock write_mu; /* one write transaction at a time */
};

static const struct store_ops sqlite_ops;

static struct sq *SQ(struct store *s)
{
    return s->impl;
}

/* ---- connections ---------------------------------------------------- */

static int conn_open(struct conn *c, const char *path, bool first);
static void conn_close(struct conn *c);
static void checkpointer_stop(struct checkpointer *ck);
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages);

/* Opens one more pooled connection, with q->mu held; false if the pool is
 * full or the open failed (the caller then waits for a busy one, and at
 * least one is always open). Connections open on demand because each
 * holds its prepared statements and schema, ~0.6 MB: an idle herald needs
 * two, not the whole pool (BENCH.md's idle memory figure). Holding the
 * mutex for the ~1 ms an open takes happens once per connection. */
static bool conn_grow(struct sq *q)
{
    if (q->n_conns == q->cap_conns)
        return false;
    struct conn *c = &q->conns[q->n_conns];
    if (conn_open(c, q->path, false) != 0) {
        conn_close(c);
        memset(c, 0, sizeof *c);
        return false;
    }
    sqlite3_wal_hook(c->db, on_wal_commit, &q->ck);
    q->idle[q->n_idle++] = q->n_conns++;
    return true;
}

static struct conn *conn_get(struct sq *q)
{
    pthread_mutex_lock(&q->mu);
    if (q->n_idle == 0)
        conn_grow(q);
    while (q->n_idle == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    struct conn *c = &q->conns[q->idle[--q->n_idle]];
    pthread_mutex_unlock(&q->mu);
    return c;
}

static void conn_put(struct sq *q, struct conn *c)
{
    pthread_mutex_lock(&q->mu);
    q->idle[q->n_idle++] = (int)(c - q->conns);
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* ---- statements ----------------------------------------------------- */

static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return HERALD_EBUSY;
    case SQLITE_NOMEM:
        return HERALD_ENOMEM;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return HERALD_ECONFLICT;
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return HERALD_ENOTFOUND; /* the account does not exist */
        return HERALD_EINVAL;
    default: /* SQLITE_FULL, SQLITE_IOERR, SQLITE_CORRUPT, … */
        return HERALD_ESTORE;
    }
}

/* Maps a failed step to a herald error and logs what is not an expected
 * answer (a unique clash is the caller's 409, not an incident). */
static int fail(struct conn *c, int rc, sqlite3_stmt *st)
{
    int err = map_sqlite(rc);
    if (err != HERALD_ECONFLICT && err != HERALD_ENOTFOUND) {
        char code[16];
        snprintf(code, sizeof code, "%d", rc);
        log_kv(LOG_ERROR, "sqlite statement failed", "code", code, "error", sqlite3_errmsg(c->db),
               "sql", st ? sqlite3_sql(st) : "", NULL);
    }
    return err;
}

/* SQLITE_ROW or SQLITE_DONE (both positive), or a negative herald error. */
static int step(struct conn *c, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    return fail(c, rc, st);
}

/* Resets a statement for its next use and drops the borrowed bindings. */
static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
static int run(struct conn *c, sqlite3_stmt *st)
{
    int rc = step(c, st);
    done(st);
    return rc < 0 ? rc : 0;
}

/* Binders: strings are SQLITE_STATIC, borrowed until done(). Bind errors
 * are ignored on purpose: the only one possible here is SQLITE_RANGE for
 * a numbered parameter a statement variant does not use. */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_text_n(sqlite3_stmt *st, int i, const char *s, size_t n)
{
    sqlite3_bind_text64(st, i, s ? s : "", n, SQLITE_STATIC, SQLITE_UTF8);
}

static void bind_int(sqlite3_stmt *st, int i, int64_t v)
{
    sqlite3_bind_int64(st, i, v);
}

static const char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    str_copy(dst, cap, col_str(st, i));
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    return xstrdup(col_str(st, i));
}

static char *col_dup_or_null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : col_dup(st, i);
}

static int64_t col_int(sqlite3_stmt *st, int i)
{
    return sqlite3_column_int64(st, i);
}

/* Copies a column's bytes exactly (payloads, response bodies) plus a NUL.
 * Their size comes from input, so an allocation failure is an error, not
 * an abort (util.h). */
static int col_bytes(sqlite3_stmt *st, int i, char **out, size_t *len)
{
    const void *p = sqlite3_column_blob(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    char *b = malloc(n + 1);
    if (!b)
        return HERALD_ENOMEM;
    if (n)
        memcpy(b, p, n);
    b[n] = '\0';
    *out = b;
    if (len)
        *len = n;
    return 0;
}

/* ---- transactions --------------------------------------------------- */

static int tx_open(struct sq *q, struct conn *c)
{
    write_lock(&q->write_mu);
    memset(c->delta, 0, sizeof c->delta);
    int rc = run(c, c->st[ST_BEGIN_WRITE]);
    if (rc != 0)
        write_unlock(&q->write_mu);
    return rc;
}

/* PRAGMA synchronous takes effect when SQLite compiles the statement, so
 * it is run through sqlite3_exec each time rather than kept prepared (a
 * prepared copy applies its setting once, at prepare). It can fail (out of
 * memory). */
static int set_sync(struct conn *c, const char *pragma)
{
    return map_sqlite(sqlite3_exec(c->db, pragma, NULL, NULL, NULL));
}

/* Makes the connection's commits durable again after tx_begin_relaxed; on
 * failure sync_off stays set and the next tx_begin tries again. */
static int sync_restore(struct conn *c)
{
    int rc = set_sync(c, "PRAGMA synchronous=FULL");
    if (rc == 0) {
        c->sync_off = false;
        walbuf_buffer(c->db, true);
    }
    return rc;
}

/* Starts a write transaction whose commit is synced (synchronous=FULL):
 * anything herald answers 2xx for, or must not lose. On success write_mu
 * is held until tx_end. A connection a claim left at synchronous=NORMAL is
 * made durable first, or the transaction does not start. */
static int tx_begin(struct sq *q, struct conn *c)
{
    if (c->sync_off) {
        int rc = sync_restore(c);
        if (rc != 0)
            return rc;
    }
    return tx_open(q, c);
}

/* Starts a write transaction committed without an fsync (claims and
 * deferrals: see sq_claim_due). NORMAL, not OFF: in WAL mode NORMAL skips
 * the sync of a commit but still syncs a checkpoint, and a claim's commit
 * may run one (inline, past CHECKPOINT_INLINE_PAGES of WAL, should the
 * checkpoint thread fall behind); unsynced, that checkpoint would reset
 * the WAL over frames of durable commits (202-answered events) whose pages
 * never reached the disk. The caller calls sync_restore after tx_end;
 * sync_off is set first, so a failure anywhere in between is still caught
 * by the next tx_begin. */
static int tx_begin_relaxed(struct sq *q, struct conn *c)
{
    c->sync_off = true;
    /* Held WAL frames are safe only behind a commit's sync (walbuf.h). */
    walbuf_buffer(c->db, false);
    set_sync(c, "PRAGMA synchronous=NORMAL");
    return tx_open(q, c);
}

static int counts_flush(struct conn *c)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < CNT__N; i++) {
        if (c->delta[i] == 0)
            continue;
        sqlite3_stmt *st = c->st[ST_COUNTS_ADD];
        bind_text(st, 1, cnt_names[i]);
        bind_int(st, 2, c->delta[i]);
        rc = run(c, st);
    }
    return rc;
}

/* Commits when rc is 0, else rolls back; returns the final outcome. */
static int tx_end(struct sq *q, struct conn *c, int rc)
{
    if (rc == 0)
        rc = counts_flush(c);
    if (rc == 0)
        rc = run(c, c->st[ST_COMMIT]);
    /* A failed COMMIT (or an I/O error mid-way) may leave the transaction
     * open; SQLite may also have rolled back by itself already. */
    if (rc != 0 && !sqlite3_get_autocommit(c->db))
        run(c, c->st[ST_ROLLBACK]);
    write_unlock(&q->write_mu);
    return rc;
}

/* Read transactions give multi-statement reads (a page and its total) one
 * snapshot. */
static int rx_begin(struct conn *c)
{
    return run(c, c->st[ST_BEGIN_READ]);
}

static int rx_end(struct conn *c, int rc)
{
    if (!sqlite3_get_autocommit(c->db))
        run(c, c->st[ST_COMMIT]);
    return rc;
}

/* page/count to LIMIT/OFFSET, refusing nonsense. */
static int page_window(int page, int count, int64_t *limit, int64_t *offset)
{
    if (page < 0 || count < 1 || count > LIST_COUNT_MAX)
        return HERALD_EINVAL;
    *limit = count;
    *offset = (int64_t)page * count;
    return 0;
}

/* ---- ping, accounts, keys ------------------------------------------- */

static int sq_ping(struct store *s)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_PING];
    int rc = step(c, st);
    done(st);
    conn_put(q, c);
    return rc < 0 ? rc : 0;
}

/* Runs st, already bound by the caller, alone in a write transaction and
 * gives c back to the pool; HERALD_ENOTFOUND when want_change is set and
 * it touched no row. */
static int write1(struct sq *q, struct conn *c, sqlite3_stmt *st, bool want_change)
{
    int rc = tx_begin(q, c);
    if (rc == 0) {
        rc = step(c, st);
        rc = rc < 0 ? rc : 0;
        if (rc == 0 && want_change && sqlite3_changes(c->db) == 0)
            rc = HERALD_ENOTFOUND;
        done(st);
        rc = tx_end(q, c, rc);
    } else {
        done(st);
    }
    conn_put(q, c);
    return rc;
}

static int sq_account_create(struct store *s, const struct store_account *a)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_ACCOUNT_INSERT];
    bind_text(st, 1, a->id);
    bind_text(st, 2, a->name);
    bind_int(st, 3, a->created_at);
    return write1(q, c, st, false);
}

static void read_account(sqlite3_stmt *st, struct store_account *out)
{
    memset(out, 0, sizeof *out);
    col_copy(st, 0, out->id, sizeof out->id);
    col_copy(st, 1, out->name, sizeof out->name);
    out->created_at = col_int(st, 2);
}

/* Runs a statement expected to return at most one row, read by fn. */
typedef void (*row_fn)(sqlite3_stmt *st, void *out);

static void row_account(sqlite3_stmt *st, void *out)
{
    read_account(st, out);
}

static int read_one(struct conn *c, sqlite3_stmt *st, row_fn fn, void *out)
{
    int rc = step(c, st);
    if (rc == SQLITE_ROW) {
        fn(st, out);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = HERALD_ENOTFOUND;
    }
    done(st);
    return rc;
}

static int sq_account_get(struct store *s, const char *id, struct store_account *out)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_ACCOUNT_GET];
    bind_text(st, 1, id);
    int rc = read_one(c, st, row_account, out);
    conn_put(q, c);
    return rc;
}

static int count_rows(struct conn *c, sqlite3_stmt *st, int64_t *n)
{
    int rc = step(c, st);
    if (rc == SQLITE_ROW) {
        *n = col_int(st, 0);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        *n = 0;
        rc = 0;
    }
    done(st);
    return rc;
}

static int sq_account_count(struct store *s, int64_t *n)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = count_rows(c, c->st[ST_ACCOUNT_COUNT], n);
    conn_put(q, c);
    return rc;
}

static int account_page(struct conn *c, int64_t limit, int64_t offset, struct store_account **out,
                        size_t *n)
{
    sqlite3_stmt *st = c->st[ST_ACCOUNT_LIST];
    struct store_account *v = xcalloc((size_t)limit, sizeof *v);
    size_t len = 0;
    int rc;
    bind_int(st, 1, limit);
    bind_int(st, 2, offset);
    while ((rc = step(c, st)) == SQLITE_ROW)
        read_account(st, &v[len++]);
    done(st);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sq_account_list(struct store *s, int page, int count, struct store_account **out,
                           size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    int64_t limit, offset;
    int rc = page_window(page, count, &limit, &offset);
    if (rc != 0)
        return rc;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    rc = rx_begin(c);
    if (rc == 0)
        rc = count_rows(c, c->st[ST_ACCOUNT_COUNT], total);
    if (rc == 0)
        rc = account_page(c, limit, offset, out, n);
    rc = rx_end(c, rc);
    conn_put(q, c);
    return rc;
}

static int sq_key_create(struct store *s, const struct store_key *k)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_KEY_INSERT];
    bind_text(st, 1, k->id);
    bind_text(st, 2, k->account_id);
    bind_text(st, 3, k->role);
    bind_text(st, 4, k->hash);
    bind_text(st, 5, k->prefix);
    bind_int(st, 6, k->created_at);
    bind_int(st, 7, k->revoked_at);
    return write1(q, c, st, false);
}

static void read_key(sqlite3_stmt *st, struct store_key *out)
{
    memset(out, 0, sizeof *out);
    col_copy(st, 0, out->id, sizeof out->id);
    col_copy(st, 1, out->account_id, sizeof out->account_id);
    col_copy(st, 2, out->role, sizeof out->role);
    col_copy(st, 3, out->hash, sizeof out->hash);
    col_copy(st, 4, out->prefix, sizeof out->prefix);
    out->created_at = col_int(st, 5);
    out->revoked_at = col_int(st, 6);
}

static void row_key(sqlite3_stmt *st, void *out)
{
    read_key(st, out);
}

static int key_lookup(struct store *s, enum st which, const char *arg, struct store_key *out)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[which];
    bind_text(st, 1, arg);
    int rc = read_one(c, st, row_key, out);
    conn_put(q, c);
    return rc;
}

static int sq_key_find(struct store *s, const char *hash, struct store_key *out)
{
    return key_lookup(s, ST_KEY_FIND, hash, out);
}

static int sq_key_get(struct store *s, const char *id, struct store_key *out)
{
    return key_lookup(s, ST_KEY_GET, id, out);
}

/* Revoking twice is fine: the first revocation time is kept. */
static int sq_key_revoke(struct store *s, const char *id, int64_t now)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_KEY_REVOKE];
    int rc = tx_begin(q, c);
    if (rc == 0) {
        bind_text(st, 1, id);
        bind_int(st, 2, now);
        rc = run(c, st);
        if (rc == 0 && sqlite3_changes(c->db) == 0) {
            struct store_key k;
            sqlite3_stmt *get = c->st[ST_KEY_GET];
            bind_text(get, 1, id);
            rc = read_one(c, get, row_key, &k);
        }
        rc = tx_end(q, c, rc);
    }
    conn_put(q, c);
    return rc;
}

/* ---- event types ---------------------------------------------------- */

static int sq_event_type_create(struct store *s, const struct store_event_type *t)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_ETYPE_INSERT];
    bind_text(st, 1, t->account_id);
    bind_text(st, 2, t->name);
    bind_text(st, 3, t->description ? t->description : "");
    bind_text(st, 4, t->sample ? t->sample : "{}");
    bind_int(st, 5, t->created_at);
    return write1(q, c, st, false);
}

static void read_event_type(sqlite3_stmt *st, struct store_event_type *out)
{
    memset(out, 0, sizeof *out);
    col_copy(st, 0, out->account_id, sizeof out->account_id);
    col_copy(st, 1, out->name, sizeof out->name);
    out->description = col_dup(st, 2);
    out->sample = col_dup(st, 3);
    out->created_at = col_int(st, 4);
}

static void row_event_type(sqlite3_stmt *st, void *out)
{
    read_event_type(st, out);
}

static int sq_event_type_get(struct store *s, const char *account_id, const char *name,
                             struct store_event_type *out)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_ETYPE_GET];
    bind_text(st, 1, account_id);
    bind_text(st, 2, name);
    int rc = read_one(c, st, row_event_type, out);
    conn_put(q, c);
    return rc;
}

static int sq_event_type_list(struct store *s, const char *account_id,
                              struct store_event_type **out, size_t *n)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_ETYPE_LIST];
    struct store_event_type *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    bind_text(st, 1, account_id);
    while ((rc = step(c, st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof *v);
        }
        read_event_type(st, &v[len++]);
    }
    done(st);
    conn_put(q, c);
    if (rc < 0) {
        store_event_types_free(v, len);
        *out = NULL;
        *n = 0;
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* ---- webhooks ------------------------------------------------------- */

/* Binds the 26 columns of WH_COLS as ?1..?26. */
static void bind_webhook(sqlite3_stmt *st, const struct store_webhook *w)
{
    bind_text(st, 1, w->id);
    bind_text(st, 2, w->account_id);
    bind_text(st, 3, w->name ? w->name : "");
    bind_text(st, 4, w->description ? w->description : "");
    bind_text(st, 5, w->url ? w->url : "");
    bind_text(st, 6, w->method);
    bind_text(st, 7, w->content_type);
    bind_text(st, 8, w->events ? w->events : "[]");
    bind_text(st, 9, w->headers ? w->headers : "{}");
    bind_int(st, 10, w->max_attempts);
    bind_int(st, 11, w->rate_limit);
    bind_int(st, 12, w->max_in_flight);
    bind_int(st, 13, w->enabled ? 1 : 0);
    bind_text(st, 14, w->kind);
    bind_text(st, 15, w->signature_scheme);
    bind_text(st, 16, w->secret ? w->secret : "");
    bind_text(st, 17, w->prev_secret);
    bind_int(st, 18, w->prev_secret_expires_at);
    bind_text(st, 19, w->disabled_reason);
    bind_int(st, 20, w->created_at);
    bind_int(st, 21, w->modified_at);
    bind_int(st, 22, w->last_execution_at);
    bind_int(st, 23, w->failing_since);
    bind_text(st, 24, w->payload_format[0] ? w->payload_format : "standard");
    bind_text(st, 25, w->signature_header);
    bind_text(st, 26, w->timestamp_header);
}

static void read_webhook(sqlite3_stmt *st, struct store_webhook *w)
{
    memset(w, 0, sizeof *w);
    col_copy(st, 0, w->id, sizeof w->id);
    col_copy(st, 1, w->account_id, sizeof w->account_id);
    w->name = col_dup(st, 2);
    w->description = col_dup(st, 3);
    w->url = col_dup(st, 4);
    col_copy(st, 5, w->method, sizeof w->method);
    col_copy(st, 6, w->content_type, sizeof w->content_type);
    w->events = col_dup(st, 7);
    w->headers = col_dup(st, 8);
    w->max_attempts = (int)col_int(st, 9);
    w->rate_limit = (int)col_int(st, 10);
    w->max_in_flight = (int)col_int(st, 11);
    w->enabled = col_int(st, 12) != 0;
    col_copy(st, 13, w->kind, sizeof w->kind);
    col_copy(st, 14, w->signature_scheme, sizeof w->signature_scheme);
    w->secret = col_dup(st, 15);
    w->prev_secret = col_dup_or_null(st, 16);
    w->prev_secret_expires_at = col_int(st, 17);
    w->disabled_reason = col_dup_or_null(st, 18);
    w->created_at = col_int(st, 19);
    w->modified_at = col_int(st, 20);
    w->last_execution_at = col_int(st, 21);
    w->failing_since = col_int(st, 22);
    col_copy(st, 23, w->payload_format, sizeof w->payload_format);
    col_copy(st, 24, w->signature_header, sizeof w->signature_header);
    col_copy(st, 25, w->timestamp_header, sizeof w->timestamp_header);
}

static void row_webhook(sqlite3_stmt *st, void *out)
{
    read_webhook(st, out);
}

static int sq_webhook_create(struct store *s, const struct store_webhook *w)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_WH_INSERT];
    bind_webhook(st, w);
    return write1(q, c, st, false);
}

static int sq_webhook_get(struct store *s, const char *account_id, const char *id,
                          struct store_webhook *out)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_WH_GET];
    bind_text(st, 1, id);
    bind_text(st, 2, account_id);
    int rc = read_one(c, st, row_webhook, out);
    conn_put(q, c);
    return rc;
}

static int sq_webhook_get_any(struct store *s, const char *id, struct store_webhook *out)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_WH_GET_ANY];
    bind_text(st, 1, id);
    int rc = read_one(c, st, row_webhook, out);
    conn_put(q, c);
    return rc;
}

/* The six orders of seed 004, in the order of the WH_LIST_* statements. */
static const char *const webhook_orders[] = {
    "name", "description", "last_execution_at", "enabled", "created_at", "modified_at",
};

static int webhook_list_stmt(const struct store_webhook_query *qr, enum st *out)
{
    size_t i = 4; /* created_at when no order is given */
    if (qr->order) {
        for (i = 0; i < ARRAY_SIZE(webhook_orders); i++)
            if (strcmp(qr->order, webhook_orders[i]) == 0)
                break;
        if (i == ARRAY_SIZE(webhook_orders))
            return HERALD_EINVAL;
    }
    *out = (enum st)(ST_WH_LIST_NAME_ASC + 2 * (int)i + (qr->desc ? 1 : 0));
    return 0;
}

/* Walks every webhook passing the SQL filters in order, applies the event
 * filter in C (subscriptions are JSON patterns), counts them all and
 * materialises only the page. Columns are read lazily, so rows outside
 * the page cost little. */
static int webhook_scan(struct conn *c, sqlite3_stmt *st, const struct store_webhook_query *qr,
                        int64_t limit, int64_t offset, struct store_webhook *v, size_t *len,
                        int64_t *total)
{
    int rc;
    while ((rc = step(c, st)) == SQLITE_ROW) {
        if (qr->event && !match_event_json(col_str(st, 7), qr->event))
            continue;
        if (*total >= offset && (int64_t)*len < limit)
            read_webhook(st, &v[(*len)++]);
        (*total)++;
    }
    return rc < 0 ? rc : 0;
}

static int sq_webhook_list(struct store *s, const char *account_id,
                           const struct store_webhook_query *qr, struct store_webhook **out,
                           size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    int64_t limit, offset;
    enum st which;
    int rc = page_window(qr->page, qr->count, &limit, &offset);
    if (rc == 0)
        rc = webhook_list_stmt(qr, &which);
    if (rc != 0)
        return rc;

    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[which];
    struct store_webhook *v = xcalloc((size_t)limit, sizeof *v);
    size_t len = 0;
    bind_text(st, 1, account_id);
    bind_text(st, 2, qr->name && *qr->name ? qr->name : NULL);
    bind_int(st, 3, qr->enabled < 0 ? -1 : (qr->enabled ? 1 : 0));
    rc = webhook_scan(c, st, qr, limit, offset, v, &len, total);
    done(st);
    conn_put(q, c);
    if (rc != 0) {
        store_webhooks_free(v, len);
        *total = 0;
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* Returns the stored enabled flag of the account's webhook. */
static int webhook_enabled(struct conn *c, const char *account_id, const char *id, bool *enabled)
{
    sqlite3_stmt *st = c->st[ST_WH_ENABLED];
    bind_text(st, 1, id);
    bind_text(st, 2, account_id);
    int rc = step(c, st);
    if (rc == SQLITE_ROW) {
        *enabled = col_int(st, 0) != 0;
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = HERALD_ENOTFOUND;
    }
    done(st);
    return rc;
}

/* Parks (due_at NULL) or un-parks the webhook's pending and in-flight
 * deliveries, so claim_due never walks a disabled webhook's backlog. */
static int webhook_set_parked(struct conn *c, const char *webhook_id, bool parked)
{
    sqlite3_stmt *st = c->st[parked ? ST_DLV_PARK : ST_DLV_UNPARK];
    bind_text(st, 1, webhook_id);
    return run(c, st);
}

static int webhook_update_tx(struct conn *c, const struct store_webhook *w)
{
    bool was_enabled;
    int rc = webhook_enabled(c, w->account_id, w->id, &was_enabled);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = c->st[ST_WH_UPDATE];
    bind_webhook(st, w);
    rc = run(c, st);
    if (rc == 0 && was_enabled != w->enabled)
        rc = webhook_set_parked(c, w->id, !w->enabled);
    return rc;
}

static int sq_webhook_update(struct store *s, const struct store_webhook *w)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = tx_begin(q, c);
    if (rc == 0)
        rc = tx_end(q, c, webhook_update_tx(c, w));
    conn_put(q, c);
    return rc;
}

static int webhook_delete_tx(struct conn *c, const char *account_id, const char *id, int64_t now)
{
    sqlite3_stmt *st = c->st[ST_WH_DELETE];
    bind_text(st, 1, id);
    bind_text(st, 2, account_id);
    int rc = run(c, st);
    if (rc == 0 && sqlite3_changes(c->db) == 0)
        rc = HERALD_ENOTFOUND;
    if (rc != 0)
        return rc;
    st = c->st[ST_DLV_CANCEL_COUNT];
    bind_text(st, 1, id);
    while ((rc = step(c, st)) == SQLITE_ROW)
        count_move(c, cnt_index(col_str(st, 0)), CNT_FAILED, col_int(st, 1));
    done(st);
    if (rc < 0)
        return rc;
    st = c->st[ST_DLV_CANCEL];
    bind_text(st, 1, id);
    bind_int(st, 2, now);
    return run(c, st);
}

static int sq_webhook_delete(struct store *s, const char *account_id, const char *id, int64_t now)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = tx_begin(q, c);
    if (rc == 0)
        rc = tx_end(q, c, webhook_delete_tx(c, account_id, id, now));
    conn_put(q, c);
    return rc;
}

/* ---- ingest --------------------------------------------------------- */

/* An enabled webhook of an account, with its subscription parsed once. */
struct fan_hook {
    char id[HERALD_ID_MAX];
    int max_attempts;
    int64_t modified_at;
    struct event_patterns pat;
};

struct fan_account {
    char account_id[HERALD_ID_MAX];
    struct fan_hook *hooks;
    size_t n;
};

/* Each account's enabled webhooks, so that ingest reads and parses them
 * once, not for every event or every commit. sq_ingest keeps one per
 * connection across its transactions, valid while webhooks_version holds
 * (fan_cache_current); record's emit[] fills one of its own per
 * transaction. */
struct fan_cache {
    struct fan_account *accts;
    size_t n, cap;
};

static void fan_account_release(struct fan_account *a)
{
    for (size_t j = 0; j < a->n; j++)
        event_patterns_release(&a->hooks[j].pat);
    free(a->hooks);
    a->hooks = NULL;
    a->n = 0;
}

static void fan_cache_release(struct fan_cache *fc)
{
    for (size_t i = 0; i < fc->n; i++)
        fan_account_release(&fc->accts[i]);
    free(fc->accts);
    memset(fc, 0, sizeof *fc);
}

static int fan_load(struct conn *c, struct fan_account *a)
{
    sqlite3_stmt *st = c->st[ST_WH_FANOUT];
    size_t cap = 0;
    int rc;
    bind_text(st, 1, a->account_id);
    while ((rc = step(c, st)) == SQLITE_ROW) {
        if (a->n == cap) {
            cap = cap ? cap * 2 : 8;
            a->hooks = xrealloc(a->hooks, cap * sizeof *a->hooks);
        }
        struct fan_hook *h = &a->hooks[a->n++];
        col_copy(st, 0, h->id, sizeof h->id);
        event_patterns_parse(&h->pat, col_str(st, 1));
        h->max_attempts = (int)col_int(st, 2);
        h->modified_at = col_int(st, 3);
    }
    done(st);
    return rc < 0 ? rc : 0;
}

static int fan_get(struct conn *c, struct fan_cache *fc, const char *account_id,
                   struct fan_account **out)
{
    for (size_t i = 0; i < fc->n; i++) {
        if (strcmp(fc->accts[i].account_id, account_id) == 0) {
            *out = &fc->accts[i];
            return 0;
        }
    }
    if (fc->n == fc->cap) {
        fc->cap = fc->cap ? fc->cap * 2 : 4;
        fc->accts = xrealloc(fc->accts, fc->cap * sizeof *fc->accts);
    }
    struct fan_account *a = &fc->accts[fc->n++];
    memset(a, 0, sizeof *a);
    str_copy(a->account_id, sizeof a->account_id, account_id);
    *out = a;
    int rc = fan_load(c, a);
    if (rc != 0) { /* a cache kept across transactions must not keep half a list */
        fan_account_release(a);
        fc->n--;
    }
    return rc;
}

/* Most accounts a connection's cache holds before it starts over. */
#define FAN_CACHE_ACCOUNTS 1024

/* The connection's fan cache, emptied first when webhooks_version moved
 * since it was filled (a webhook was added, removed, or changed what the
 * fan-out reads) or when it holds FAN_CACHE_ACCOUNTS. Only for ingest's
 * own transactions: they write no webhook, so what they cache is
 * committed state at the version read in the same transaction. */
static int fan_cache_current(struct conn *c, struct fan_cache **out)
{
    int64_t version = 0;
    int rc = count_rows(c, c->st[ST_WH_VERSION], &version);
    if (rc != 0)
        return rc;
    if (!c->fan)
        c->fan = xcalloc(1, sizeof *c->fan);
    if (version != c->fan_version || c->fan->n >= FAN_CACHE_ACCOUNTS) {
        fan_cache_release(c->fan);
        c->fan_version = version;
    }
    *out = c->fan;
    return 0;
}

/* Rows per multi-row INSERT: sqlite_sql.h's EVT_INSERT_16, DLV_INSERT_16. */
#define INGEST_ROWS 16

/* A delivery row waiting in a row_writer. */
struct dlv_row {
    char id[HERALD_ID_MAX];
    const struct store_ingest *it;
    const char *webhook_id; /* the fan cache's or the item's: valid through ingest_items() */
    int max_attempts;
    bool enabled;
    size_t claim; /* 1 + the index of its hand-off claim in it->leased, or 0 */
};

/* An ingest transaction's new rows, written INGEST_ROWS to a statement:
 * each statement run costs its own setup, halt and reset, about a fifth
 * of a row's cost alone. Rows wait here only while nothing reads them:
 * rows_flush() runs before an idempotency lookup, a test send and at the
 * end of ingest_items(). Bound strings are borrowed (SQLITE_STATIC) from
 * the items, the fan cache and the rows themselves. */
struct row_writer {
    const struct store_ingest *events[INGEST_ROWS];
    size_t n_events;
    struct dlv_row dlv[INGEST_ROWS];
    size_t n_dlv;
};

/* Binds EVT_ROW's 6 parameters after the first `at`. */
static void bind_event_row(sqlite3_stmt *st, int at, const struct store_ingest *it)
{
    bind_text(st, at + 1, it->id);
    bind_text(st, at + 2, it->account_id);
    bind_text(st, at + 3, it->type);
    bind_text_n(st, at + 4, it->data, it->data_len);
    bind_text(st, at + 5, it->idempotency_key);
    bind_int(st, at + 6, it->created_at);
}

/* Binds DLV_ROW's 12 parameters after the first `at`. A delivery to a
 * disabled webhook (only a test send can make one) starts parked: no
 * due_at. */
static void bind_dlv_row(sqlite3_stmt *st, int at, const struct dlv_row *r)
{
    const struct store_ingest *it = r->it;
    bool leased = it->lease_owner != NULL;
    bind_text(st, at + 1, r->id);
    bind_text(st, at + 2, it->id);
    bind_text(st, at + 3, r->webhook_id);
    bind_text(st, at + 4, it->account_id);
    bind_text(st, at + 5, leased ? "in_flight" : "pending");
    bind_int(st, at + 6, it->max_attempts > 0 ? it->max_attempts : r->max_attempts);
    bind_int(st, at + 7, it->created_at); /* next_attempt_at */
    bind_text(st, at + 8, it->lease_owner);
    bind_int(st, at + 9, leased ? it->lease_until : 0);
    if (r->enabled)
        bind_int(st, at + 10, leased ? it->lease_until : it->created_at);
    else
        sqlite3_bind_null(st, at + 10);
    bind_int(st, at + 11, it->created_at);
    bind_int(st, at + 12, it->created_at);
}

/* Writes the waiting event rows: a full set with one statement, fewer one
 * by one. */
static int rows_flush_events(struct conn *c, struct row_writer *w)
{
    int rc = 0;
    if (w->n_events == INGEST_ROWS) {
        sqlite3_stmt *st = c->st[ST_EVT_INSERT_16];
        for (size_t i = 0; i < INGEST_ROWS; i++)
            bind_event_row(st, 6 * (int)i, w->events[i]);
        rc = run(c, st);
    } else {
        for (size_t i = 0; rc == 0 && i < w->n_events; i++) {
            bind_event_row(c->st[ST_EVT_INSERT], 0, w->events[i]);
            rc = run(c, c->st[ST_EVT_INSERT]);
        }
    }
    w->n_events = 0;
    return rc;
}

/* Gives the hand-off claims of the n rows one INSERT just wrote, ending
 * at r, their rowids. A table whose largest rowid is below the maximum
 * numbers new rows one after the other; should a row get another (record
 * checks the id with the rowid), record finds it by id instead. */
static void claims_note_rows(struct conn *c, struct dlv_row *r, size_t n)
{
    int64_t last = sqlite3_last_insert_rowid(c->db);
    for (size_t i = 0; i < n; i++)
        if (r[i].claim)
            r[i].it->leased->v[r[i].claim - 1].row = last - (int64_t)(n - 1 - i);
}

static int rows_flush_deliveries(struct conn *c, struct row_writer *w)
{
    int rc = 0;
    if (w->n_dlv == INGEST_ROWS) {
        sqlite3_stmt *st = c->st[ST_DLV_INSERT_16];
        for (size_t i = 0; i < INGEST_ROWS; i++)
            bind_dlv_row(st, 12 * (int)i, &w->dlv[i]);
        rc = run(c, st);
        if (rc == 0)
            claims_note_rows(c, w->dlv, INGEST_ROWS);
    } else {
        for (size_t i = 0; rc == 0 && i < w->n_dlv; i++) {
            bind_dlv_row(c->st[ST_DLV_INSERT], 0, &w->dlv[i]);
            rc = run(c, c->st[ST_DLV_INSERT]);
            if (rc == 0)
                claims_note_rows(c, &w->dlv[i], 1);
        }
    }
    w->n_dlv = 0;
    return rc;
}

/* Writes every waiting row, events first (each delivery names its event). */
static int rows_flush(struct conn *c, struct row_writer *w)
{
    int rc = rows_flush_events(c, w);
    if (rc == 0)
        rc = rows_flush_deliveries(c, w);
    return rc;
}

static int event_add(struct conn *c, struct row_writer *w, const struct store_ingest *it)
{
    w->events[w->n_events++] = it;
    return w->n_events == INGEST_ROWS ? rows_flush_events(c, w) : 0;
}

/* The webhook a delivery goes to, as the fan-out found it. */
struct fan_target {
    const char *id; /* the fan cache's or the item's: valid through ingest_items() */
    int max_attempts;
    bool enabled;
    int64_t modified_at;
};

/* Appends to it->leased the claim of a delivery created leased, as
 * DLV_CLAIM would read it back (its rowid comes with the flush). The
 * group commit's hand-off: the dispatcher starts it with no read. */
static size_t hand_off(struct store_ingest *it, const char *delivery_id, const struct fan_target *t,
                       int max_attempts)
{
    struct store_claim *k = store_claims_push(it->leased);
    str_copy(k->delivery_id, sizeof k->delivery_id, delivery_id);
    str_copy(k->event_id, sizeof k->event_id, it->id);
    str_copy(k->webhook_id, sizeof k->webhook_id, t->id);
    str_copy(k->account_id, sizeof k->account_id, it->account_id);
    str_copy(k->event_type, sizeof k->event_type, it->type);
    k->max_attempts = max_attempts;
    k->event_created_at = it->created_at;
    k->webhook_modified_at = t->modified_at;
    k->lease_until = it->lease_until;
    k->payload = xmalloc(it->data_len + 1);
    memcpy(k->payload, it->data, it->data_len);
    k->payload[it->data_len] = '\0';
    k->payload_len = it->data_len;
    return it->leased->len;
}

/* Creates one delivery of item to a webhook (written by the next flush). */
static int delivery_add(struct conn *c, struct row_writer *w, struct store_ingest *it,
                        const struct fan_target *t)
{
    struct dlv_row *r = &w->dlv[w->n_dlv++];
    id_new(r->id, "dlv", it->created_at);
    r->it = it;
    r->webhook_id = t->id;
    r->max_attempts = t->max_attempts;
    r->enabled = t->enabled;
    r->claim = 0;
    /* A parked delivery (disabled webhook) is not due: claim_due would
     * not return it either. */
    if (it->lease_owner && it->leased && t->enabled)
        r->claim =
            hand_off(it, r->id, t, it->max_attempts > 0 ? it->max_attempts : t->max_attempts);
    count_move(c, -1, it->lease_owner ? CNT_IN_FLIGHT : CNT_PENDING, 1);
    if (it->deliveries++ == 0)
        str_copy(it->first_delivery_id, sizeof it->first_delivery_id, r->id);
    return w->n_dlv == INGEST_ROWS ? rows_flush(c, w) : 0;
}

/* The test-send path: one delivery to a named webhook of the account. */
static int fan_out_one(struct conn *c, struct row_writer *w, struct store_ingest *it)
{
    sqlite3_stmt *st = c->st[ST_WH_TARGET];
    bind_text(st, 1, it->only_webhook_id);
    bind_text(st, 2, it->account_id);
    int rc = step(c, st);
    struct fan_target t = {.id = it->only_webhook_id};
    if (rc == SQLITE_ROW) {
        t.max_attempts = (int)col_int(st, 0);
        t.enabled = col_int(st, 1) != 0;
        t.modified_at = col_int(st, 2);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = HERALD_ENOTFOUND;
    }
    done(st);
    if (rc != 0)
        return rc;
    return delivery_add(c, w, it, &t);
}

static int fan_out(struct conn *c, struct fan_cache *fc, struct row_writer *w,
                   struct store_ingest *it)
{
    if (it->only_webhook_id)
        return fan_out_one(c, w, it);
    struct fan_account *a;
    int rc = fan_get(c, fc, it->account_id, &a);
    for (size_t i = 0; rc == 0 && i < a->n; i++)
        if (event_patterns_match(&a->hooks[i].pat, it->type))
            rc = delivery_add(c, w, it,
                              &(struct fan_target){a->hooks[i].id, a->hooks[i].max_attempts, true,
                                                   a->hooks[i].modified_at});
    return rc;
}

/* Answers a repeat of an idempotency key with the first event. */
static int fill_duplicate(struct conn *c, struct store_ingest *it, sqlite3_stmt *found)
{
    str_copy(it->id, sizeof it->id, col_str(found, 0));
    str_copy(it->out_type, sizeof it->out_type, col_str(found, 1));
    it->created_at = col_int(found, 2);
    it->duplicate = true;
    done(found);
    int64_t n = 0;
    sqlite3_stmt *st = c->st[ST_DLV_COUNT_EVENT];
    bind_text(st, 1, it->id);
    int rc = count_rows(c, st, &n);
    it->deliveries = (int)n;
    return rc;
}

/* Looks the item's idempotency key up. Sets *dup when the item repeats an
 * event of the last 24 h (and fills it in); frees an older event's key so
 * this one can take it. */
static int check_idempotency(struct conn *c, struct store_ingest *it, bool *dup)
{
    *dup = false;
    if (!it->idempotency_key)
        return 0;
    sqlite3_stmt *st = c->st[ST_EVT_BY_KEY];
    bind_text(st, 1, it->account_id);
    bind_text(st, 2, it->idempotency_key);
    int rc = step(c, st);
    if (rc == SQLITE_DONE) {
        done(st);
        return 0;
    }
    if (rc < 0) {
        done(st);
        return rc;
    }
    if (it->created_at - col_int(st, 2) < DAY_MS) {
        *dup = true;
        return fill_duplicate(c, it, st);
    }
    char old[HERALD_ID_MAX];
    str_copy(old, sizeof old, col_str(st, 0));
    done(st);
    st = c->st[ST_EVT_CLEAR_KEY];
    bind_text(st, 1, old);
    return run(c, st);
}

static int ingest_one(struct conn *c, struct fan_cache *fc, struct row_writer *w,
                      struct store_ingest *it)
{
    it->deliveries = 0;
    it->duplicate = false;
    it->first_delivery_id[0] = '\0';
    if (!it->account_id || !it->type || !it->data)
        return HERALD_EINVAL;
    str_copy(it->out_type, sizeof it->out_type, it->type);

    /* What the lookup and the test send read must be written first: an
     * earlier item of this transaction may hold the same key. */
    int rc = it->idempotency_key || it->only_webhook_id ? rows_flush(c, w) : 0;
    bool dup = false;
    if (rc == 0)
        rc = check_idempotency(c, it, &dup);
    if (rc != 0 || dup)
        return rc;
    rc = event_add(c, w, it);
    if (rc != 0)
        return rc;
    return fan_out(c, fc, w, it);
}

/* The body of ingest and of record's emit[]: inside the caller's write
 * transaction. */
static int ingest_items(struct conn *c, struct fan_cache *fc, struct store_ingest *items, size_t n)
{
    struct row_writer w = {.n_events = 0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ingest_one(c, fc, &w, &items[i]);
    if (rc == 0)
        rc = rows_flush(c, &w);
    return rc;
}

static int ingest_tx(struct conn *c, struct store_ingest *items, size_t n)
{
    struct fan_cache *fc;
    int rc = fan_cache_current(c, &fc);
    return rc != 0 ? rc : ingest_items(c, fc, items, n);
}

static int sq_ingest(struct store *s, struct store_ingest *items, size_t n)
{
    if (n == 0)
        return 0;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = tx_begin(q, c);
    if (rc == 0)
        rc = tx_end(q, c, ingest_tx(c, items, n));
    conn_put(q, c);
    return rc;
}

/* ---- events --------------------------------------------------------- */

struct event_row {
    struct store_event *e;
    int rc;
};

static void read_event(sqlite3_stmt *st, struct event_row *row)
{
    struct store_event *e = row->e;
    memset(e, 0, sizeof *e);
    col_copy(st, 0, e->id, sizeof e->id);
    col_copy(st, 1, e->account_id, sizeof e->account_id);
    col_copy(st, 2, e->type, sizeof e->type);
    row->rc = col_bytes(st, 3, &e->payload, &e->payload_len);
    e->idempotency_key = col_dup_or_null(st, 4);
    e->created_at = col_int(st, 5);
}

static void row_event(sqlite3_stmt *st, void *out)
{
    read_event(st, out);
}

static int sq_event_get(struct store *s, const char *account_id, const char *id,
                        struct store_event *out)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_EVT_GET];
    struct event_row row = {.e = out, .rc = 0};
    bind_text(st, 1, id);
    bind_text(st, 2, account_id);
    int rc = read_one(c, st, row_event, &row);
    conn_put(q, c);
    if (rc == 0 && row.rc != 0) {
        store_event_release(out);
        rc = row.rc;
    }
    return rc;
}

static void bind_event_query(sqlite3_stmt *st, const char *account_id,
                             const struct store_event_query *qr)
{
    bind_text(st, 1, account_id);
    bind_text(st, 2, qr->type);
    bind_int(st, 3, qr->since);
    bind_int(st, 4, qr->until);
}

static int event_page(struct conn *c, const char *account_id, const struct store_event_query *qr,
                      int64_t limit, int64_t offset, struct store_event **out, size_t *n)
{
    sqlite3_stmt *st = c->st[ST_EVT_LIST];
    struct store_event *v = xcalloc((size_t)limit, sizeof *v);
    size_t len = 0;
    int rc;
    bind_event_query(st, account_id, qr);
    bind_int(st, 5, limit);
    bind_int(st, 6, offset);
    while ((rc = step(c, st)) == SQLITE_ROW) {
        struct event_row row = {.e = &v[len++], .rc = 0};
        read_event(st, &row);
        if (row.rc != 0) {
            rc = row.rc;
            break;
        }
    }
    done(st);
    if (rc < 0) {
        store_events_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sq_event_list(struct store *s, const char *account_id,
                         const struct store_event_query *qr, struct store_event **out, size_t *n,
                         int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    int64_t limit, offset;
    int rc = page_window(qr->page, qr->count, &limit, &offset);
    if (rc != 0)
        return rc;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    rc = rx_begin(c);
    if (rc == 0) {
        sqlite3_stmt *st = c->st[ST_EVT_COUNT];
        bind_event_query(st, account_id, qr);
        rc = count_rows(c, st, total);
    }
    if (rc == 0)
        rc = event_page(c, account_id, qr, limit, offset, out, n);
    rc = rx_end(c, rc);
    conn_put(q, c);
    if (rc != 0)
        *total = 0;
    return rc;
}

/* ---- deliveries ----------------------------------------------------- */

static void read_delivery(sqlite3_stmt *st, struct store_delivery *d)
{
    memset(d, 0, sizeof *d);
    col_copy(st, 0, d->id, sizeof d->id);
    col_copy(st, 1, d->event_id, sizeof d->event_id);
    col_copy(st, 2, d->webhook_id, sizeof d->webhook_id);
    col_copy(st, 3, d->account_id, sizeof d->account_id);
    col_copy(st, 4, d->status, sizeof d->status);
    d->attempts = (int)col_int(st, 5);
    d->max_attempts = (int)col_int(st, 6);
    d->next_attempt_at = col_int(st, 7);
    d->created_at = col_int(st, 8);
    d->updated_at = col_int(st, 9);
}

static void row_delivery(sqlite3_stmt *st, void *out)
{
    read_delivery(st, out);
}

static int sq_delivery_get(struct store *s, const char *account_id, const char *id,
                           struct store_delivery *out)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_DLV_GET];
    bind_text(st, 1, id);
    bind_text(st, 2, account_id);
    int rc = read_one(c, st, row_delivery, out);
    conn_put(q, c);
    return rc;
}

static void ignore_row(sqlite3_stmt *st, void *out)
{
    (void)st;
    (void)out;
}

/* HERALD_ENOTFOUND unless the event exists and is the account's. */
static int event_owned(struct conn *c, const char *account_id, const char *event_id)
{
    sqlite3_stmt *st = c->st[ST_EVT_GET];
    bind_text(st, 1, event_id);
    bind_text(st, 2, account_id);
    return read_one(c, st, ignore_row, NULL);
}

static int delivery_rows(struct conn *c, const char *account_id, const char *event_id,
                         struct store_delivery **out, size_t *n)
{
    sqlite3_stmt *st = c->st[ST_DLV_LIST_EVENT];
    struct store_delivery *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    bind_text(st, 1, event_id);
    bind_text(st, 2, account_id);
    while ((rc = step(c, st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof *v);
        }
        read_delivery(st, &v[len++]);
    }
    done(st);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sq_delivery_list_for_event(struct store *s, const char *account_id, const char *event_id,
                                      struct store_delivery **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = rx_begin(c);
    if (rc == 0)
        rc = event_owned(c, account_id, event_id);
    if (rc == 0)
        rc = delivery_rows(c, account_id, event_id, out, n);
    rc = rx_end(c, rc);
    conn_put(q, c);
    return rc;
}

static int read_claim(sqlite3_stmt *st, struct store_claim *k)
{
    memset(k, 0, sizeof *k);
    col_copy(st, 0, k->delivery_id, sizeof k->delivery_id);
    col_copy(st, 1, k->event_id, sizeof k->event_id);
    col_copy(st, 2, k->webhook_id, sizeof k->webhook_id);
    col_copy(st, 3, k->account_id, sizeof k->account_id);
    k->attempts = (int)col_int(st, 4);
    k->max_attempts = (int)col_int(st, 5);
    col_copy(st, 6, k->event_type, sizeof k->event_type);
    k->event_created_at = col_int(st, 7);
    k->webhook_modified_at = col_int(st, 9);
    k->row = col_int(st, 10);
    return col_bytes(st, 8, &k->payload, &k->payload_len);
}

/* Claims read so far, with whether each row was pending (not an expired
 * lease taken over), growing as rows come. */
struct claim_rows {
    struct store_claim *v;
    bool *pending;
    size_t len, cap;
};

/* Appends every row st yields (columns as DLV_CLAIM's) and resets st. */
static int claim_rows_read(struct conn *c, sqlite3_stmt *st, struct claim_rows *r)
{
    int rc;
    while ((rc = step(c, st)) == SQLITE_ROW) {
        if (r->len == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 16;
            r->v = xrealloc(r->v, r->cap * sizeof *r->v);
            r->pending = xrealloc(r->pending, r->cap * sizeof *r->pending);
        }
        r->pending[r->len] = strcmp(col_str(st, 11), "pending") == 0;
        rc = read_claim(st, &r->v[r->len++]);
        if (rc != 0)
            break;
    }
    done(st);
    return rc < 0 ? rc : 0;
}

/* Reads the due rows first and leases them after: updating due_at while a
 * cursor walks the due_at index could make it meet a row twice. */
static int claim_select(struct conn *c, int64_t now, size_t max, struct claim_rows *r)
{
    sqlite3_stmt *st = c->st[ST_DLV_CLAIM];
    bind_int(st, 1, now);
    bind_int(st, 2, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
    return claim_rows_read(c, st, r);
}

static int claim_tx(struct conn *c, const char *owner, int64_t now, int64_t lease_until, size_t max,
                    struct store_claim **out, size_t *n)
{
    struct claim_rows r = {0};
    int rc = claim_select(c, now, max, &r);
    *out = r.v;
    *n = r.len;
    sqlite3_stmt *st = c->st[ST_DLV_LEASE];
    for (size_t i = 0; rc == 0 && i < r.len; i++) {
        r.v[i].lease_until = lease_until;
        bind_int(st, 1, r.v[i].row);
        bind_text(st, 2, owner);
        bind_int(st, 3, lease_until);
        bind_int(st, 4, now);
        rc = run(c, st);
        /* Nearly every claimed row was pending; one that was not is an
         * expired lease, taken over from in_flight. */
        if (rc == 0)
            count_move(c, r.pending[i] ? CNT_PENDING : CNT_IN_FLIGHT, CNT_IN_FLIGHT, 1);
    }
    free(r.pending);
    return rc;
}

static int sq_claim_due(struct store *s, const char *owner, int64_t now, int64_t lease_until,
                        size_t max, struct store_claim **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (max == 0)
        return 0;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    struct store_claim *v = NULL;
    size_t len = 0;
    /* A claim needs no fsync: if the machine dies before a later commit
     * syncs the WAL, the claim is lost and its deliveries are simply still
     * due, which is what a crash should do to them anyway. The WAL is
     * sequential, so the next durable commit (an ingest or a record) makes
     * this one durable too. It halves the fsyncs of a drain and takes one
     * off the end-to-end latency of every delivery. */
    int rc = tx_begin_relaxed(q, c);
    if (rc == 0)
        rc = tx_end(q, c, claim_tx(c, owner, now, lease_until, max, &v, &len));
    sync_restore(c);
    conn_put(q, c);
    if (rc != 0) {
        store_claims_free(v, len);
        return rc;
    }
    if (len == 0) {
        store_claims_free(v, 0);
        v = NULL;
    }
    *out = v;
    *n = len;
    return 0;
}

/* Exact, and index-only: parked deliveries of disabled webhooks have no
 * due_at, so they never make the dispatcher wake for nothing. */
static int sq_next_due(struct store *s, int64_t *at)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_DLV_NEXT_DUE];
    int rc = step(c, st);
    *at = INT64_MAX;
    if (rc == SQLITE_ROW)
        *at = col_int(st, 0);
    done(st);
    conn_put(q, c);
    return rc < 0 ? rc : 0;
}

static const char *outcome_status(enum store_outcome o)
{
    switch (o) {
    case STORE_SUCCEEDED:
        return "succeeded";
    case STORE_RETRY:
        return "pending";
    case STORE_FAILED:
    default:
        return "failed";
    }
}

static int attempt_insert(struct conn *c, const struct store_result *r)
{
    sqlite3_stmt *st = c->st[ST_ATT_INSERT];
    bind_text(st, 1, r->attempt_id);
    bind_text(st, 2, r->delivery_id);
    bind_text(st, 3, r->event_id);
    bind_text(st, 4, r->webhook_id);
    bind_text(st, 5, r->event_type ? r->event_type : "");
    bind_int(st, 6, r->n);
    bind_int(st, 7, r->started_at);
    bind_int(st, 8, r->duration_ms);
    bind_int(st, 9, r->response_code);
    bind_text(st, 10, r->error ? r->error : "");
    bind_int(st, 11, r->outcome == STORE_SUCCEEDED);
    if (r->response_body)
        sqlite3_bind_blob64(st, 12, r->response_body, r->response_len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 12);
    bind_text(st, 13, r->request_headers);
    if (r->account_id)
        bind_text(st, 14, r->account_id);
    else
        sqlite3_bind_null(st, 14);
    return run(c, st);
}

/* What one record batch did to one webhook, so its row is written once per
 * batch rather than once per result. */
struct wh_touch {
    const char *id;
    int64_t last_end;   /* latest started_at + duration */
    bool any_ok;        /* the batch had a success */
    bool last_ok;       /* the batch's last result for it succeeded */
    int64_t fail_start; /* started_at of the first failure after the last success */
};

static struct wh_touch *touch_find(struct wh_touch *t, size_t *n, const char *id)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(t[i].id, id) == 0)
            return &t[i];
    t[*n] = (struct wh_touch){.id = id};
    return &t[(*n)++];
}

static void touch_add(struct wh_touch *t, const struct store_result *r)
{
    bool ok = r->outcome == STORE_SUCCEEDED;
    int64_t end = r->started_at + r->duration_ms;
    if (end > t->last_end)
        t->last_end = end;
    if (ok) {
        t->any_ok = true;
        t->fail_start = 0;
    } else if (t->fail_start == 0) {
        t->fail_start = r->started_at;
    }
    t->last_ok = ok;
}

/* Moves the delivery to its outcome's status; by rowid when row > 0. */
static int result_update(struct conn *c, const char *owner, const struct store_result *r,
                         int64_t row)
{
    sqlite3_stmt *st = c->st[ST_DLV_RESULT];
    bind_text(st, 1, r->delivery_id);
    bind_text(st, 2, owner);
    bind_text(st, 3, outcome_status(r->outcome));
    bind_int(st, 4, r->n);
    bind_int(st, 5, r->next_attempt_at);
    bind_int(st, 6, r->started_at + r->duration_ms);
    bind_int(st, 7, row);
    return run(c, st);
}

static int record_one(struct conn *c, const char *owner, const struct store_result *r)
{
    int rc = attempt_insert(c, r);
    if (rc == 0)
        rc = result_update(c, owner, r, r->row);
    /* A rowid that no longer holds this delivery (a VACUUM renumbers the
     * rows of a table with a text primary key): find it by id instead. */
    if (rc == 0 && r->row > 0 && sqlite3_changes(c->db) == 0)
        rc = result_update(c, owner, r, 0);
    if (rc != 0)
        return rc;
    if (sqlite3_changes(c->db) == 1)
        count_move(c, CNT_IN_FLIGHT, cnt_index(outcome_status(r->outcome)), 1);
    if (!r->disable_reason)
        return rc;

    sqlite3_stmt *st = c->st[ST_WH_DISABLE];
    bind_text(st, 1, r->webhook_id);
    bind_text(st, 2, r->disable_reason);
    bind_int(st, 3, r->started_at);
    if ((rc = run(c, st)) != 0)
        return rc;
    return webhook_set_parked(c, r->webhook_id, true);
}

static int touch_write(struct conn *c, const struct wh_touch *t)
{
    sqlite3_stmt *st = c->st[ST_WH_EXECUTED];
    bind_text(st, 1, t->id);
    bind_int(st, 2, t->last_end);
    bind_int(st, 3, t->last_ok);
    bind_int(st, 4, t->fail_start);
    bind_int(st, 5, t->any_ok);
    return run(c, st);
}

static int record_tx(struct conn *c, const char *owner, const struct store_result *r, size_t n,
                     struct store_ingest *emit, size_t n_emit)
{
    int rc = 0;
    struct wh_touch *touched = n ? xmalloc(n * sizeof *touched) : NULL;
    size_t n_touched = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = record_one(c, owner, &r[i]);
        if (r[i].quiet)
            continue;
        /* Batches come from one dispatcher and mostly repeat a few
         * webhooks: the last one touched is the likeliest match. */
        struct wh_touch *t = n_touched && strcmp(touched[n_touched - 1].id, r[i].webhook_id) == 0
                                 ? &touched[n_touched - 1]
                                 : touch_find(touched, &n_touched, r[i].webhook_id);
        touch_add(t, &r[i]);
    }
    for (size_t i = 0; rc == 0 && i < n_touched; i++)
        rc = touch_write(c, &touched[i]);
    free(touched);
    if (rc == 0 && n_emit) {
        /* Not the connection's cache: this transaction may have just
         * disabled a webhook, and might yet roll that back. */
        struct fan_cache fc = {0};
        rc = ingest_items(c, &fc, emit, n_emit);
        fan_cache_release(&fc);
    }
    return rc;
}

static int sq_record(struct store *s, const char *owner, const struct store_result *r, size_t n,
                     struct store_ingest *emit, size_t n_emit)
{
    if (n == 0 && n_emit == 0)
        return 0;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = tx_begin(q, c);
    if (rc == 0)
        rc = tx_end(q, c, record_tx(c, owner, r, n, emit, n_emit));
    conn_put(q, c);
    return rc;
}

static int defer_tx(struct conn *c, const char *owner, const struct store_deferral *d, size_t n,
                    int64_t now)
{
    sqlite3_stmt *st = c->st[ST_DLV_DEFER];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bind_text(st, 1, d[i].delivery_id);
        bind_text(st, 2, owner);
        bind_int(st, 3, d[i].until);
        bind_int(st, 4, now);
        bind_int(st, 5, d[i].lease_until);
        rc = run(c, st);
        if (rc == 0)
            count_move(c, CNT_IN_FLIGHT, CNT_PENDING, sqlite3_changes(c->db));
    }
    return rc;
}

static int sq_defer(struct store *s, const char *owner, const struct store_deferral *d, size_t n,
                    int64_t now)
{
    if (n == 0)
        return 0;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    /* Like a claim, a deferral needs no fsync: lost, the rows stay leased
     * and come back when the lease runs out. */
    int rc = tx_begin_relaxed(q, c);
    if (rc == 0)
        rc = tx_end(q, c, defer_tx(c, owner, d, n, now));
    sync_restore(c);
    conn_put(q, c);
    return rc;
}

static int sq_release(struct store *s, const char *owner, int64_t now)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_DLV_RELEASE];
    int rc = tx_begin(q, c);
    if (rc == 0) {
        bind_text(st, 1, owner);
        bind_int(st, 2, now);
        rc = run(c, st);
        if (rc == 0)
            count_move(c, CNT_IN_FLIGHT, CNT_PENDING, sqlite3_changes(c->db));
        rc = tx_end(q, c, rc);
    }
    conn_put(q, c);
    return rc;
}

static int delivery_retry_tx(struct conn *c, const char *account_id, const char *id, int64_t now)
{
    sqlite3_stmt *st = c->st[ST_DLV_STATE];
    bind_text(st, 1, id);
    bind_text(st, 2, account_id);
    int rc = step(c, st);
    int from = -1;
    if (rc == SQLITE_ROW) {
        from = cnt_index(col_str(st, 0));
        bool leased = strcmp(col_str(st, 0), "in_flight") == 0 && col_int(st, 1) > now;
        /* A deleted webhook's delivery could only wait forever. */
        bool orphan = col_int(st, 2) == 0;
        rc = orphan ? HERALD_ENOTFOUND : leased ? HERALD_ECONFLICT : 0;
    } else if (rc == SQLITE_DONE) {
        rc = HERALD_ENOTFOUND;
    }
    done(st);
    if (rc != 0)
        return rc;
    st = c->st[ST_DLV_REQUEUE];
    bind_text(st, 1, id);
    bind_int(st, 2, now);
    rc = run(c, st);
    if (rc == 0 && sqlite3_changes(c->db) == 1)
        count_move(c, from, CNT_PENDING, 1);
    return rc;
}

static int sq_delivery_retry(struct store *s, const char *account_id, const char *id, int64_t now)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = tx_begin(q, c);
    if (rc == 0)
        rc = tx_end(q, c, delivery_retry_tx(c, account_id, id, now));
    conn_put(q, c);
    return rc;
}

static int recover_tx(struct conn *c, const char *account_id, const char *webhook_id, int64_t since,
                      int64_t until, int64_t now, int64_t *count)
{
    bool enabled;
    int rc = webhook_enabled(c, account_id, webhook_id, &enabled);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st = c->st[ST_DLV_RECOVER];
    bind_text(st, 1, webhook_id);
    bind_int(st, 2, now);
    bind_text(st, 3, account_id);
    bind_int(st, 4, since);
    bind_int(st, 5, until > 0 ? until : INT64_MAX);
    rc = run(c, st);
    if (rc == 0) {
        *count = sqlite3_changes(c->db);
        count_move(c, CNT_FAILED, CNT_PENDING, *count);
    }
    return rc;
}

static int sq_recover(struct store *s, const char *account_id, const char *webhook_id,
                      int64_t since, int64_t until, int64_t now, int64_t *count)
{
    *count = 0;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = tx_begin(q, c);
    if (rc == 0)
        rc = tx_end(q, c, recover_tx(c, account_id, webhook_id, since, until, now, count));
    conn_put(q, c);
    if (rc != 0)
        *count = 0;
    return rc;
}

/* ---- attempts ------------------------------------------------------- */

static int read_attempt(sqlite3_stmt *st, struct store_attempt *a)
{
    memset(a, 0, sizeof *a);
    col_copy(st, 0, a->id, sizeof a->id);
    col_copy(st, 1, a->delivery_id, sizeof a->delivery_id);
    col_copy(st, 2, a->event_id, sizeof a->event_id);
    col_copy(st, 3, a->webhook_id, sizeof a->webhook_id);
    col_copy(st, 4, a->event_type, sizeof a->event_type);
    a->n = (int)col_int(st, 5);
    a->started_at = col_int(st, 6);
    a->duration_ms = col_int(st, 7);
    a->response_code = (int)col_int(st, 8);
    col_copy(st, 9, a->error, sizeof a->error);
    a->request_headers =
        xstrdup(sqlite3_column_type(st, 11) == SQLITE_NULL ? "{}" : col_str(st, 11));
    a->event_created_at = col_int(st, 13);
    int rc = col_bytes(st, 10, &a->response_body, NULL);
    if (rc == 0)
        rc = col_bytes(st, 12, &a->payload, NULL);
    return rc;
}

/* Each of webhook, delivery and event, when given, must be the account's:
 * another account's id is a 404, not an empty log. */
static int attempt_scope(struct conn *c, const char *account_id,
                         const struct store_attempt_query *qr)
{
    int rc = 0;
    if (qr->webhook_id) {
        bool enabled;
        rc = webhook_enabled(c, account_id, qr->webhook_id, &enabled);
    }
    if (rc == 0 && qr->delivery_id) {
        sqlite3_stmt *st = c->st[ST_DLV_STATE];
        bind_text(st, 1, qr->delivery_id);
        bind_text(st, 2, account_id);
        rc = read_one(c, st, ignore_row, NULL);
    }
    if (rc == 0 && qr->event_id)
        rc = event_owned(c, account_id, qr->event_id);
    return rc;
}

static void bind_attempt_query(sqlite3_stmt *st, const char *account_id,
                               const struct store_attempt_query *qr)
{
    bind_text(st, 1, qr->webhook_id);
    bind_text(st, 2, qr->delivery_id);
    bind_text(st, 3, qr->event_id);
    bind_int(st, 4, qr->status == 1 || qr->status == 2 ? qr->status : 0);
    bind_text(st, 5, qr->event_type);
    bind_int(st, 6, qr->since);
    bind_int(st, 7, qr->until);
    bind_text(st, 8, account_id);
}

/* 0 webhook, 1 delivery, 2 event, 3 account-wide: the most selective
 * filter given leads, so its index drives the query. */
static int attempt_lead(const struct store_attempt_query *qr)
{
    if (qr->webhook_id)
        return 0;
    if (qr->delivery_id)
        return 1;
    if (qr->event_id)
        return 2;
    return 3;
}

static int attempt_page(struct conn *c, const char *account_id,
                        const struct store_attempt_query *qr, int64_t limit, int64_t offset,
                        struct store_attempt **out, size_t *n)
{
    sqlite3_stmt *st = c->st[ST_ATT_LIST_WEBHOOK + attempt_lead(qr)];
    struct store_attempt *v = xcalloc((size_t)limit, sizeof *v);
    size_t len = 0;
    int rc;
    bind_attempt_query(st, account_id, qr);
    bind_int(st, 9, limit);
    bind_int(st, 10, offset);
    while ((rc = step(c, st)) == SQLITE_ROW) {
        rc = read_attempt(st, &v[len++]);
        if (rc != 0)
            break;
    }
    done(st);
    if (rc < 0) {
        store_attempts_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

static int sq_attempt_list(struct store *s, const char *account_id,
                           const struct store_attempt_query *qr, struct store_attempt **out,
                           size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    int64_t limit, offset;
    int rc = page_window(qr->page, qr->count, &limit, &offset);
    if (rc != 0)
        return rc;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    rc = rx_begin(c);
    if (rc == 0)
        rc = attempt_scope(c, account_id, qr);
    if (rc == 0) {
        sqlite3_stmt *st = c->st[ST_ATT_COUNT_WEBHOOK + attempt_lead(qr)];
        bind_attempt_query(st, account_id, qr);
        rc = count_rows(c, st, total);
    }
    if (rc == 0)
        rc = attempt_page(c, account_id, qr, limit, offset, out, n);
    rc = rx_end(c, rc);
    conn_put(q, c);
    if (rc != 0)
        *total = 0;
    return rc;
}

/* Walks the account's attempts since `since` on attempts_account; an
 * attempt counts as succeeded as in attempt_list (outcome succeeded, which
 * is exactly "no error"). */
static int sq_attempt_series(struct store *s, const char *account_id, int64_t since,
                             int64_t bucket_ms, struct store_bucket **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (bucket_ms <= 0)
        return HERALD_EINVAL;
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_stmt *st = c->st[ST_ATT_SERIES];
    struct store_bucket *v = NULL;
    size_t len = 0, cap = 0;
    int rc;
    bind_text(st, 1, account_id);
    bind_int(st, 2, since);
    bind_int(st, 3, bucket_ms);
    while ((rc = step(c, st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 32;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[len++] = (struct store_bucket){
            .start = col_int(st, 0),
            .attempts = col_int(st, 1),
            .succeeded = col_int(st, 2),
            .total_ms = col_int(st, 3),
            .max_ms = col_int(st, 4),
        };
    }
    done(st);
    conn_put(q, c);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* ---- stats ---------------------------------------------------------- */

static int delivery_stats(struct conn *c, struct store_stats *out)
{
    sqlite3_stmt *st = c->st[ST_STATS_DELIVERIES];
    int rc;
    while ((rc = step(c, st)) == SQLITE_ROW) {
        const char *status = col_str(st, 0);
        int64_t k = col_int(st, 1);
        if (strcmp(status, "pending") == 0)
            out->pending += k;
        else if (strcmp(status, "in_flight") == 0)
            out->in_flight += k;
        else if (strcmp(status, "succeeded") == 0)
            out->succeeded += k;
        else if (strcmp(status, "failed") == 0)
            out->failed += k;
    }
    done(st);
    out->pending += out->in_flight; /* store.h: pending includes in_flight */
    return rc < 0 ? rc : 0;
}

/* Reads the trigger-kept counts (migration 3) and the tables' largest
 * rowids: O(log n), cheap enough for every /metrics scrape. */
static int sq_stats(struct store *s, struct store_stats *out)
{
    memset(out, 0, sizeof *out);
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    int rc = rx_begin(c);
    if (rc == 0)
        rc = delivery_stats(c, out);
    if (rc == 0)
        rc = count_rows(c, c->st[ST_STATS_EVENTS], &out->events);
    if (rc == 0)
        rc = count_rows(c, c->st[ST_STATS_ATTEMPTS], &out->attempts);
    rc = rx_end(c, rc);
    conn_put(q, c);
    return rc;
}

/* ---- open and close ------------------------------------------------- */

static void conn_close(struct conn *c)
{
    if (c->fan) {
        fan_cache_release(c->fan);
        free(c->fan);
        c->fan = NULL;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db)
        sqlite3_close_v2(c->db);
    c->db = NULL;
}

static void sq_close(struct store *s)
{
    struct sq *q = SQ(s);
    checkpointer_stop(&q->ck); /* before the pool: it may be checkpointing */
    for (int i = 0; i < q->n_conns; i++)
        conn_close(&q->conns[i]);
    pthread_mutex_destroy(&q->ck.mu);
    pthread_cond_destroy(&q->ck.cv);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    write_lock_destroy(&q->write_mu);
    free(q->conns);
    free(q->idle);
    free(q->path);
    free(q);
}

static int open_error(sqlite3 *db, const char *what, const char *path)
{
    log_kv(LOG_ERROR, what, "path", path, "error", db ? sqlite3_errmsg(db) : "out of memory", NULL);
    return HERALD_ESTORE;
}

/* mkdir -p of the directory holding path. New directories are 0700: the
 * database holds webhook secrets, and admin.key goes next to it. */
static int make_parent_dirs(const char *path)
{
    char *dir = xstrdup(path);
    int rc = 0;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == 0; p++) {
            bool end = *p == '\0';
            if (*p != '/' && !end)
                continue;
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                log_kv(LOG_ERROR, "cannot create the database directory", "path", dir, "error",
                       strerror(errno), NULL);
                rc = HERALD_EIO;
            }
            if (end)
                break;
            *p = '/';
        }
    }
    free(dir);
    return rc;
}

/* Creates the file 0600 before SQLite does (SQLite would use 0644 under
 * the usual umask); its -wal and -shm files copy the mode. */
static int create_private_file(const char *path)
{
    if (strcmp(path, ":memory:") == 0)
        return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_kv(LOG_ERROR, "cannot open the database file", "path", path, "error", strerror(errno),
               NULL);
        return HERALD_EIO;
    }
    close(fd);
    return 0;
}

static int exec_sql(sqlite3 *db, const char *sql, const char *path)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    log_kv(LOG_ERROR, "sqlite setup failed", "path", path, "error", msg ? msg : sqlite3_errstr(rc),
           "sql", sql, NULL);
    sqlite3_free(msg);
    return map_sqlite(rc);
}

static int int_pragma(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return map_sqlite(rc);
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : map_sqlite(rc);
}

/* WAL lets readers (API, dashboard) run beside the one writer. */
static int set_wal(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return open_error(db, "cannot set WAL mode", path);
    rc = sqlite3_step(st);
    bool wal =
        rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0) ?: "", "wal") == 0;
    sqlite3_finalize(st);
    if (!wal)
        return open_error(db, "cannot set WAL mode", path);
    return 0;
}

static int migrate_tx(sqlite3 *db, const char *path)
{
    int64_t version;
    int rc = int_pragma(db, "PRAGMA user_version", &version);
    if (rc != 0)
        return open_error(db, "cannot read the schema version", path);
    int64_t known = (int64_t)ARRAY_SIZE(sqlite_migrations);
    if (version > known) {
        log_kv(LOG_ERROR, "the database schema is newer than this herald", "path", path, NULL);
        return HERALD_ESTORE;
    }
    for (int64_t v = version; rc == 0 && v < known; v++)
        rc = exec_sql(db, sqlite_migrations[v], path);
    if (rc == 0 && version < known) {
        char sql[48];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)known);
        rc = exec_sql(db, sql, path);
        if (rc == 0) {
            char from[24], to[24];
            snprintf(from, sizeof from, "%lld", (long long)version);
            snprintf(to, sizeof to, "%lld", (long long)known);
            log_kv(LOG_INFO, "database schema migrated", "path", path, "from", from, "to", to,
                   NULL);
        }
    }
    return rc;
}

/* Applies the missing migrations in one transaction. IMMEDIATE, and the
 * version read inside it, so two processes opening a new database at once
 * cannot both migrate. */
static int migrate(sqlite3 *db, const char *path)
{
    /* A migration that rebuilds a table sorts its every row for each new
     * index: in temporary files, not memory (the connection's setting),
     * so a large log upgrades in bounded RSS. */
    int rc = exec_sql(db, "PRAGMA temp_store=FILE; BEGIN IMMEDIATE", path);
    if (rc != 0)
        return rc;
    rc = migrate_tx(db, path);
    if (rc == 0)
        rc = exec_sql(db, "COMMIT", path);
    if (rc != 0 && !sqlite3_get_autocommit(db))
        exec_sql(db, "ROLLBACK", path);
    if (rc == 0)
        rc = exec_sql(db, "PRAGMA temp_store=MEMORY", path);
    return rc;
}

static int prepare_all(struct conn *c, const char *path)
{
    for (int i = 0; i < ST_COUNT; i++) {
        int rc =
            sqlite3_prepare_v3(c->db, st_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
        if (rc != SQLITE_OK) {
            log_kv(LOG_ERROR, "cannot prepare a statement", "path", path, "error",
                   sqlite3_errmsg(c->db), "sql", st_sql[i], NULL);
            return HERALD_ESTORE;
        }
    }
    return 0;
}

/* Opens one pooled connection; the first one also sets WAL and migrates,
 * so the tables exist before any statement is prepared. */
static int conn_open(struct conn *c, const char *path, bool first)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &c->db, flags, vfs_name);
    if (rc != SQLITE_OK)
        return open_error(c->db, "cannot open the database", path);
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    if (first && (rc = set_wal(c->db, path)) != 0)
        return rc;
    /* FULL: in WAL mode NORMAL may lose the last commits on power loss,
     * and herald answers 202 only for what survives that. */
    rc = exec_sql(c->db,
                  "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                  " PRAGMA cache_size=-32768; PRAGMA temp_store=MEMORY;"
                  " PRAGMA journal_size_limit=67108864;",
                  path);
    if (rc == 0 && first)
        rc = migrate(c->db, path);
    if (rc == 0)
        rc = prepare_all(c, path);
    /* Preparing read the schema, so the WAL is open. */
    if (rc == 0)
        walbuf_buffer(c->db, true);
    return rc;
}

/* ---- checkpoints ----------------------------------------------------- */

/* WAL pages not yet in the database that call for a pass (SQLite's
 * default threshold). */
#define CHECKPOINT_PAGES 1000
/* A WAL this long (~32 MB) is started over: the checkpoint's last step
 * takes the write mutex (below). Every 1 000 pages, that step stalled
 * ingest about 2 ms (two fsyncs) 30 times a second under batch load, a
 * fifth of the group commit's time; one in eight passes takes it now. */
#define CHECKPOINT_RESTART_PAGES 8000
/* A writer checkpoints inline past this (~64 MB of WAL), so the WAL stays
 * bounded should the thread fall behind. */
#define CHECKPOINT_INLINE_PAGES 16000
/* Frames left for the step under the write mutex, and the unlocked passes
 * tried to get there. */
#define CHECKPOINT_LOCKED_PAGES 64
#define CHECKPOINT_PASSES 4

/* Runs after every commit on a pooled connection, in the committing
 * thread (sqlite3_wal_hook; it replaces SQLite's own autocheckpoint). */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct checkpointer *ck = arg;
    if (pages >= CHECKPOINT_INLINE_PAGES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (pages >= CHECKPOINT_PAGES) {
        pthread_mutex_lock(&ck->mu);
        if (pages < ck->copied) /* the WAL started over */
            ck->copied = 0;
        if (pages - ck->copied >= CHECKPOINT_PAGES) {
            ck->wanted = true;
            pthread_cond_signal(&ck->cv);
        }
        pthread_mutex_unlock(&ck->mu);
    }
    return SQLITE_OK;
}

/* PASSIVE copies what no reader still needs and never waits on a lock.
 * Copying while writers go on leaves their newest frames behind, and SQLite
 * starts the WAL over only once every frame is in the database: so the
 * bulk is copied first with writers running and, once the WAL is
 * CHECKPOINT_RESTART_PAGES long, the few frames they added meanwhile with
 * write_mu held (writers wait for that short copy, not for the whole
 * checkpoint as they did inline). Shorter WALs are left growing: a pass
 * copies only the frames after the last one's. */
static void checkpoint_once(struct checkpointer *ck)
{
    /* Writers append while a pass copies: passes repeat (a few at most)
     * until what is left is small, so the step under the mutex is short. */
    int log = 0, done = 0, rc = SQLITE_OK;
    for (int pass = 0; rc == SQLITE_OK && pass < CHECKPOINT_PASSES; pass++) {
        rc = sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (log - done <= CHECKPOINT_LOCKED_PAGES)
            break;
    }
    if (rc == SQLITE_OK) {
        pthread_mutex_lock(&ck->mu);
        ck->copied = done;
        pthread_mutex_unlock(&ck->mu);
    }
    if (rc == SQLITE_OK && log >= CHECKPOINT_RESTART_PAGES) {
        write_lock(ck->write_mu);
        rc = sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        write_unlock(ck->write_mu);
    }
    if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return;
    int64_t now = clock_mono_ms();
    if (now - ck->last_warn < 10000)
        return;
    ck->last_warn = now;
    log_kv(LOG_WARN, "checkpoint failed", "error", sqlite3_errstr(rc), NULL);
}

static void *checkpoint_main(void *arg)
{
    struct checkpointer *ck = arg;
    pthread_mutex_lock(&ck->mu);
    while (!ck->stop) {
        if (!ck->wanted) {
            pthread_cond_wait(&ck->cv, &ck->mu);
            continue;
        }
        ck->wanted = false;
        pthread_mutex_unlock(&ck->mu);
        checkpoint_once(ck);
        pthread_mutex_lock(&ck->mu);
    }
    pthread_mutex_unlock(&ck->mu);
    return NULL;
}

static int checkpointer_start(struct checkpointer *ck, const char *path)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &ck->db, flags, vfs_name) != SQLITE_OK)
        return open_error(ck->db, "cannot open the database", path);
    sqlite3_busy_timeout(ck->db, BUSY_TIMEOUT_MS);
    int rc = exec_sql(ck->db, "PRAGMA synchronous=FULL; PRAGMA journal_size_limit=67108864;", path);
    if (rc != 0)
        return rc;
    if (pthread_create(&ck->thread, NULL, checkpoint_main, ck) != 0)
        return HERALD_ENOMEM;
    pthread_setname_np(ck->thread, "herald-ckpt");
    ck->running = true;
    return 0;
}

static void checkpointer_stop(struct checkpointer *ck)
{
    if (ck->running) {
        pthread_mutex_lock(&ck->mu);
        ck->stop = true;
        pthread_cond_signal(&ck->cv);
        pthread_mutex_unlock(&ck->mu);
        pthread_join(ck->thread, NULL);
        ck->running = false;
    }
    if (ck->db)
        sqlite3_close_v2(ck->db);
    ck->db = NULL;
}

/* SQLite's allocation statistics take a global mutex around every malloc
 * and free (about 4 % of the store's instructions per delivery), and
 * herald never reads them. Must run before SQLite initialises; a later
 * call fails harmlessly. */
static void sqlite_global_config(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (walbuf_register() == SQLITE_OK)
        vfs_name = WALBUF_VFS;
}

/* The WAL's length when it first starts over: CHECKPOINT_RESTART_PAGES
 * frames of one page and a 24-byte header each, after the file's 32-byte
 * header. The page size is read, not assumed: a database created by
 * another tool may use other than SQLite's 4 096. */
static sqlite3_int64 wal_prefill_bytes(sqlite3 *db)
{
    int64_t page = 0;
    if (int_pragma(db, "PRAGMA page_size", &page) != 0 || page < 512 || page > 65536)
        return 0;
    return (sqlite3_int64)CHECKPOINT_RESTART_PAGES * (page + 24) + 32;
}

/* A fresh WAL (SQLite deletes it at a clean close) grows with every
 * commit until it first starts over, and each of those commits' fsyncs
 * must also record the file's new length. At E's rate that was the first
 * second after every start: 10-17 % of commits over 5 ms against ~1 %
 * later, and E's p99 at 10 000/s read 36-39 ms against 14-18 ms with the
 * WAL filled beforehand (docs/performance.md, twelfth round). Filling it
 * here, once, under the write lock, costs ~40 ms of writing at start. */
static int sq_warm(struct store *s)
{
    struct sq *q = SQ(s);
    struct conn *c = conn_get(q);
    sqlite3_int64 bytes = wal_prefill_bytes(c->db);
    /* Never more than a quarter of the room left: on a nearly full disk
     * the commits need it more than they need speed. */
    struct statvfs fs;
    if (bytes == 0 || statvfs(q->path, &fs) != 0 ||
        (sqlite3_int64)fs.f_bavail * (sqlite3_int64)fs.f_frsize < 4 * bytes) {
        conn_put(q, c);
        return 0;
    }
    int rc = tx_begin(q, c);
    if (rc == 0) {
        int frc = walbuf_prefill(c->db, bytes);
        rc = tx_end(q, c, 0); /* nothing written: the lock was the point */
        if (rc == 0 && frc != SQLITE_OK && frc != SQLITE_NOTFOUND)
            rc = HERALD_EIO;
    }
    conn_put(q, c);
    return rc;
}

int store_sqlite_open(const char *path, int pool, struct store **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_global_config);
    *out = NULL;
    if (pool < 1)
        pool = 1;
    int rc = make_parent_dirs(path);
    if (rc == 0)
        rc = create_private_file(path);
    if (rc != 0)
        return rc;

    struct sq *q = xcalloc(1, sizeof *q);
    q->base.ops = &sqlite_ops;
    q->base.impl = q;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    write_lock_init(&q->write_mu);
    pthread_mutex_init(&q->ck.mu, NULL);
    pthread_cond_init(&q->ck.cv, NULL);
    q->ck.write_mu = &q->write_mu;
    q->conns = xcalloc((size_t)pool, sizeof *q->conns);
    q->idle = xcalloc((size_t)pool, sizeof *q->idle);
    q->cap_conns = pool;
    q->path = xstrdup(path);
    /* The first connection sets WAL and migrates; the others open on
     * demand (conn_grow). */
    q->n_conns = 1;
    rc = conn_open(&q->conns[0], path, true);
    q->idle[q->n_idle++] = 0;
    if (rc == 0)
        rc = checkpointer_start(&q->ck, path);
    if (rc == 0)
        sqlite3_wal_hook(q->conns[0].db, on_wal_commit, &q->ck);
    if (rc != 0) {
        sq_close(&q->base);
        return rc;
    }
    *out = &q->base;
    return 0;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .ping = sq_ping,
    .warm = sq_warm,
    .account_create = sq_account_create,
    .account_get = sq_account_get,
    .account_list = sq_account_list,
    .account_count = sq_account_count,
    .key_create = sq_key_create,
    .key_find = sq_key_find,
    .key_get = sq_key_get,
    .key_revoke = sq_key_revoke,
    .event_type_create = sq_event_type_create,
    .event_type_get = sq_event_type_get,
    .event_type_list = sq_event_type_list,
    .webhook_create = sq_webhook_create,
    .webhook_get = sq_webhook_get,
    .webhook_get_any = sq_webhook_get_any,
    .webhook_list = sq_webhook_list,
    .webhook_update = sq_webhook_update,
    .webhook_delete = sq_webhook_delete,
    .ingest = sq_ingest,
    .event_get = sq_event_get,
    .event_list = sq_event_list,
    .delivery_get = sq_delivery_get,
    .delivery_list_for_event = sq_delivery_list_for_event,
    .claim_due = sq_claim_due,
    .ingest_hands_off = true,
    .next_due = sq_next_due,
    .record = sq_record,
    .defer = sq_defer,
    .release = sq_release,
    .delivery_retry = sq_delivery_retry,
    .recover = sq_recover,
    .attempt_list = sq_attempt_list,
    .stats = sq_stats,
    .attempt_series = sq_attempt_series,
    /* notify_fd/notify_consume stay NULL: every writer of a SQLite
     * database that matters lives in this process (store.h). */
};
