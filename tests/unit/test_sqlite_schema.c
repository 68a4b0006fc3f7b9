/*
 * test_sqlite_schema.c — the SQLite backend's schema as the hot paths see
 * it: an older database upgrades without losing a row, and no statement
 * that writes a delivery makes SQLite build a temporary b-tree (the cost
 * migration 6 removed; a schema change that brings one back fails here,
 * not only in a benchmark).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/sqlite_schema.h"
#include "store/sqlite_sql.h"
#include "core/id.h"
#include "store/store.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct fx {
    char dir[256];
    char path[300];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/herald-schema-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/herald.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[400];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < ARRAY_LEN(suffix); i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

static int64_t int_query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A database as version 5 left it, with one account, event and two
 * deliveries (rowids 7 and 9, so a rebuild that renumbers shows). */
static void make_v5(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, "PRAGMA journal_mode=WAL");
    for (int v = 0; v < 5; v++)
        exec(db, sqlite_migrations[v]);
    exec(db, "PRAGMA user_version = 5");
    exec(db, "INSERT INTO accounts (id, name, created_at) VALUES ('acct_1', 'a', 1)");
    exec(db, "INSERT INTO events (id, account_id, type, payload, created_at)"
             " VALUES ('evt_1', 'acct_1', 'post.published', '{}', 1)");
    exec(db, "INSERT INTO deliveries (rowid, id, event_id, webhook_id, account_id, status,"
             " attempts, max_attempts, next_attempt_at, due_at, created_at, updated_at)"
             " VALUES (7, 'dlv_a', 'evt_1', 'wh_1', 'acct_1', 'pending', 0, 5, 10, 10, 1, 1),"
             " (9, 'dlv_b', 'evt_1', 'wh_1', 'acct_1', 'failed', 5, 5, 20, NULL, 1, 2)");
    exec(db, "INSERT INTO attempts (rowid, id, delivery_id, event_id, webhook_id, account_id,"
             " event_type, n, started_at, duration_ms, response_code, ok)"
             " VALUES (4, 'att_1', 'dlv_b', 'evt_1', 'wh_1', 'acct_1', 'post.published', 5,"
             " 2, 3, 500, 0)");
    sqlite3_close(db);
}

static void test_upgrade_keeps_rows(void **state)
{
    struct fx *f = *state;
    make_v5(f->path);
    char url[400];
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    struct store *s = NULL;
    assert_int_equal(store_open(url, 1, &s), 0);

    struct store_delivery d;
    assert_int_equal(s->ops->delivery_get(s, "acct_1", "dlv_b", &d), 0);
    assert_string_equal(d.status, "failed");
    assert_int_equal(d.attempts, 5);
    store_close(s);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(int_query(db, "PRAGMA user_version"), (int64_t)ARRAY_LEN(sqlite_migrations));
    assert_int_equal(int_query(db, "SELECT rowid FROM deliveries WHERE id = 'dlv_a'"), 7);
    assert_int_equal(int_query(db, "SELECT rowid FROM deliveries WHERE id = 'dlv_b'"), 9);
    assert_int_equal(int_query(db, "SELECT due_at FROM deliveries WHERE id = 'dlv_a'"), 10);
    /* The indexes came back with the table. */
    assert_int_equal(int_query(db, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index'"
                                   " AND tbl_name = 'deliveries' AND sql IS NOT NULL"),
                     3);
    /* Migration 8 rebuilt attempts with its rowids and ids, without the
     * unique index on id, and with its three indexes. */
    assert_int_equal(int_query(db, "SELECT rowid FROM attempts WHERE id = 'att_1'"), 4);
    assert_int_equal(int_query(db, "SELECT response_code FROM attempts WHERE rowid = 4"), 500);
    assert_int_equal(int_query(db, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index'"
                                   " AND tbl_name = 'attempts'"),
                     3);
    /* The constraint still holds. */
    assert_int_not_equal(
        sqlite3_exec(db, "UPDATE deliveries SET status = 'lost'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Statements run for every delivery: none may open an ephemeral table. */
static const char *const hot[] = {"DLV_INSERT", "DLV_LEASE",  "DLV_RESULT", "DLV_DEFER",
                                  "DLV_CLAIM",  "ATT_INSERT", "EVT_INSERT", "COUNTS_ADD"};

#define ROW(name, sql) {#name, sql},
static const struct {
    const char *name, *sql;
} statements[] = {SQL_STATEMENTS(ROW)};
#undef ROW

/* The fixture's database at the current schema, opened directly. */
static sqlite3 *open_current(struct fx *f)
{
    char url[400];
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    struct store *s = NULL;
    assert_int_equal(store_open(url, 1, &s), 0);
    store_close(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    return db;
}

/* `how` ("EXPLAIN" or "EXPLAIN QUERY PLAN") of the statement named name,
 * prepared; a name sqlite_sql.h no longer has fails the test. */
static sqlite3_stmt *explain(sqlite3 *db, const char *how, const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(statements); i++) {
        if (strcmp(statements[i].name, name) != 0)
            continue;
        char sql[4096];
        snprintf(sql, sizeof sql, "%s %s", how, statements[i].sql);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        return st;
    }
    fail_msg("no statement %s", name);
    return NULL;
}

static void test_hot_statements_use_no_temp_btree(void **state)
{
    sqlite3 *db = open_current(*state);
    for (size_t i = 0; i < ARRAY_LEN(hot); i++) {
        sqlite3_stmt *st = explain(db, "EXPLAIN", hot[i]);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *op = (const char *)sqlite3_column_text(st, 1);
            if (strcmp(op, "OpenEphemeral") == 0 || strcmp(op, "SorterOpen") == 0)
                fail_msg("%s opens a temporary b-tree (%s)", hot[i], op);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

/* The logs list newest first, a page at a time, from tables that grow
 * without bound: each must walk its index in order, never sort. */
static const char *const walked[] = {"EVT_LIST", "ATT_LIST_WEBHOOK", "ATT_LIST_ACCOUNT"};

static void test_lists_walk_their_index(void **state)
{
    sqlite3 *db = open_current(*state);
    for (size_t i = 0; i < ARRAY_LEN(walked); i++) {
        sqlite3_stmt *st = explain(db, "EXPLAIN QUERY PLAN", walked[i]);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *detail = (const char *)sqlite3_column_text(st, 3);
            if (strstr(detail, "TEMP B-TREE") || strstr(detail, "SCAN"))
                fail_msg("%s: %s", walked[i], detail);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

/* Opens the fixture's database through the store, with one account. */
static struct store *open_with_account(struct fx *f, const char *name, struct store_account *a)
{
    char url[400];
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    struct store *s = NULL;
    assert_int_equal(store_open(url, 2, &s), 0);
    memset(a, 0, sizeof *a);
    a->created_at = 1;
    id_new(a->id, "acct", 1);
    snprintf(a->name, sizeof a->name, "%s", name);
    assert_int_equal(s->ops->account_create(s, a), 0);
    return s;
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* The pooled connections no longer checkpoint inside their commits; the
 * checkpoint thread must then keep the WAL near the ~32 MB at which it
 * starts it over (CHECKPOINT_RESTART_PAGES). Without it the WAL would grow
 * to the 64 MB at which writers checkpoint inline: 64 MB written here
 * stays well below that. */
static void test_wal_is_checkpointed_in_the_background(void **state)
{
    struct fx *f = *state;
    char wal[400];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    struct store_account a;
    struct store *s = open_with_account(f, "wal", &a);

    size_t len = 16 * 1024;
    char *data = malloc(len);
    assert_non_null(data);
    memset(data, 'x', len);
    data[0] = '"';
    data[len - 1] = '"';
    int64_t most = 0;
    for (int i = 0; i < 4096; i++) {
        struct store_ingest ev = {.account_id = a.id,
                                  .type = "post.published",
                                  .data = data,
                                  .data_len = len,
                                  .created_at = 1000 + i};
        id_new(ev.id, "evt", ev.created_at);
        assert_int_equal(s->ops->ingest(s, &ev, 1), 0);
        int64_t now = file_size(wal);
        most = now > most ? now : most;
    }
    free(data);
    store_close(s);
    assert_true(most < 48LL * 1024 * 1024);
}

/* A result carries its claim's rowid; a row renumbered in between (what a
 * VACUUM may do to a table with a text primary key) must still be found,
 * by its id. */
static void test_result_finds_a_renumbered_row(void **state)
{
    struct fx *f = *state;
    struct store_account a;
    struct store *s = open_with_account(f, "rows", &a);
    struct store_webhook w = {.name = "w",
                              .description = "",
                              .url = "https://example.com/",
                              .events = "[\"*\"]",
                              .headers = "{}",
                              .max_attempts = 3,
                              .max_in_flight = 4,
                              .enabled = true,
                              .secret = "whsec_x",
                              .created_at = 1,
                              .modified_at = 1};
    id_new(w.id, "wh", 1);
    memcpy(w.account_id, a.id, sizeof a.id);
    snprintf(w.method, sizeof w.method, "POST");
    snprintf(w.content_type, sizeof w.content_type, "application/json");
    snprintf(w.kind, sizeof w.kind, "webhook");
    snprintf(w.signature_scheme, sizeof w.signature_scheme, "standard");
    assert_int_equal(s->ops->webhook_create(s, &w), 0);
    struct store_ingest ev = {.account_id = a.id,
                              .type = "post.published",
                              .data = "{}",
                              .data_len = 2,
                              .created_at = 10};
    id_new(ev.id, "evt", 10);
    assert_int_equal(s->ops->ingest(s, &ev, 1), 0);

    struct store_claim *c = NULL;
    size_t n = 0;
    assert_int_equal(s->ops->claim_due(s, "node", 20, 100000, 10, &c, &n), 0);
    assert_int_equal(n, 1);
    assert_true(c[0].row > 0);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    exec(db, "UPDATE deliveries SET rowid = rowid + 1000");
    sqlite3_close(db);

    struct store_result r = {.delivery_id = c[0].delivery_id,
                             .account_id = c[0].account_id,
                             .event_id = c[0].event_id,
                             .webhook_id = c[0].webhook_id,
                             .event_type = c[0].event_type,
                             .n = 1,
                             .started_at = 30,
                             .duration_ms = 1,
                             .response_code = 200,
                             .response_body = "",
                             .request_headers = "{}",
                             .outcome = STORE_SUCCEEDED,
                             .row = c[0].row};
    id_new(r.attempt_id, "att", 30);
    assert_int_equal(s->ops->record(s, "node", &r, 1, NULL, 0), 0);
    struct store_delivery d;
    assert_int_equal(s->ops->delivery_get(s, a.id, c[0].delivery_id, &d), 0);
    assert_string_equal(d.status, "succeeded");
    store_claims_free(c, n);
    store_close(s);
}

/* The WAL is filled at start to the length it first starts over at, in
 * frames of the database's own page size: one created elsewhere with
 * 1 024-byte pages gets a WAL of whole 1 024-byte frames (24-byte frame
 * headers after a 32-byte file header), not a length worked out for
 * SQLite's default 4 096. */
static void test_wal_prefill_follows_the_page_size(void **state)
{
    struct fx *f = *state;
    /* sq_warm leaves the WAL alone with less than four times its length
     * free (~34 MB here), which would fail this test for want of room. */
    struct statvfs vfs;
    assert_int_equal(statvfs(f->dir, &vfs), 0);
    if ((unsigned long long)vfs.f_bavail * vfs.f_frsize < 64ULL << 20)
        skip();
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    exec(db, "PRAGMA page_size=1024; PRAGMA user_version=0; VACUUM");
    assert_int_equal(int_query(db, "PRAGMA page_size"), 1024);
    sqlite3_close(db);

    char url[320], wal[320];
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    struct store *s = NULL;
    assert_int_equal(store_open(url, 2, &s), 0);
    assert_int_equal(s->ops->warm(s), 0);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > 1024 * 1024);
    assert_int_equal((st.st_size - 32) % (1024 + 24), 0);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upgrade_keeps_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hot_statements_use_no_temp_btree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists_walk_their_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_finds_a_renumbered_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_is_checkpointed_in_the_background, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_prefill_follows_the_page_size, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
