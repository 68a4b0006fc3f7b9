/*
 * test_store_pg.c — what only the PostgreSQL backend promises: several
 * nodes on one database (claims never overlap, expired leases move to
 * another node, migrations run once when nodes start together), LISTEN/
 * NOTIFY wake-ups across nodes, and surviving a database restart.
 *
 * Needs HERALD_TEST_DB=postgres://… (scripts/pg.sh start prints one); each
 * test is skipped without it. Every test works in a schema of its own
 * (search_path set through the URL), created empty and dropped after, so
 * "two nodes on a fresh database" is meant literally. The restart test
 * stops a server, so it never touches the shared one: it starts a private
 * cluster with HERALD_TEST_PG_SCRIPT (the path of scripts/pg.sh, which
 * `pg.sh run` exports) and is skipped without it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/id.h"
#include "store/postgres_sql.h"
#include "store/store.h"

#define T0 1700000000000LL
#define SEC 1000LL
#define HOUR (3600 * SEC)
#define FAR (INT64_MAX / 4)
#define WAIT_MS 30000 /* generous deadline for conditions polled below */

struct fx {
    char schema[64];
    char url[1024];
    struct store *s;
    char acct[HERALD_ID_MAX];
    char hook[HERALD_ID_MAX];
    char cluster[64]; /* a private cluster's directory, "" when shared */
};

#define OPS(s) ((s)->ops)

/* ---- fixture -------------------------------------------------------- */

static const char *base_url(void)
{
    const char *env = getenv("HERALD_TEST_DB");
    return env && (strncmp(env, "postgres://", 11) == 0 || strncmp(env, "postgresql://", 13) == 0)
               ? env
               : NULL;
}

/* Runs SQL on the base database as an administrator would. */
static void admin_sql(const char *sql)
{
    PGconn *c = PQconnectdb(base_url());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* One integer from a query run in the fixture's schema. */
static long long schema_int(struct fx *f, const char *sql)
{
    PGconn *c = PQconnectdb(f->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static void mk_account(struct store *s, char id[HERALD_ID_MAX])
{
    struct store_account a = {.created_at = T0};
    id_new(a.id, "acct", T0);
    snprintf(a.name, sizeof a.name, "acme");
    assert_int_equal(OPS(s)->account_create(s, &a), 0);
    memcpy(id, a.id, HERALD_ID_MAX);
}

static void mk_webhook(struct store *s, const char *acct, char id[HERALD_ID_MAX])
{
    struct store_webhook w = {0};
    id_new(w.id, "wh", T0);
    snprintf(w.account_id, sizeof w.account_id, "%s", acct);
    w.name = "h";
    w.description = "";
    w.url = "https://example.com/hook";
    snprintf(w.method, sizeof w.method, "POST");
    snprintf(w.content_type, sizeof w.content_type, "application/json");
    w.events = "[\"*\"]";
    w.headers = "{}";
    w.max_attempts = 4;
    w.max_in_flight = 8;
    w.enabled = true;
    snprintf(w.kind, sizeof w.kind, "webhook");
    snprintf(w.signature_scheme, sizeof w.signature_scheme, "standard");
    w.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w.created_at = w.modified_at = T0;
    assert_int_equal(OPS(s)->webhook_create(s, &w), 0);
    memcpy(id, w.id, HERALD_ID_MAX);
}

/* A fresh, empty schema and the URL that selects it. The store is not
 * opened: some tests open it their own way. */
static int setup_bare(void **state)
{
    if (!base_url())
        return 0;
    static int seq;
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->schema, sizeof f->schema, "t_%ld_%d", (long)getpid(),
             __atomic_add_fetch(&seq, 1, __ATOMIC_SEQ_CST));
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", f->schema,
             f->schema);
    admin_sql(sql);
    const char *base = base_url();
    snprintf(f->url, sizeof f->url, "%s%coptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? '&' : '?', f->schema);
    *state = f;
    return 0;
}

/* A fresh schema, the store open on it, an account and a webhook for "*". */
static int setup(void **state)
{
    setup_bare(state);
    struct fx *f = *state;
    if (!f)
        return 0;
    assert_int_equal(store_open(f->url, 4, &f->s), 0);
    mk_account(f->s, f->acct);
    mk_webhook(f->s, f->acct, f->hook);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (!f)
        return 0;
    store_close(f->s);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", f->schema);
    admin_sql(sql);
    free(f);
    return 0;
}

/* Runs `pg.sh VERB` on the fixture's private cluster; its output (the
 * URL, for start) goes to out when non-NULL. */
static int pg_script(struct fx *f, const char *verb, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "HERALD_PG_DIR='%s' '%s' %s", f->cluster,
             getenv("HERALD_TEST_PG_SCRIPT"), verb);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512] = "";
    if (fgets(line, sizeof line, p) && out)
        snprintf(out, cap, "%.*s", (int)strcspn(line, "\n"), line);
    while (fgets(line, sizeof line, p))
        ;
    return pclose(p);
}

/* A cluster of the test's own (pg.sh start in a new directory), the store
 * open on it, an account and a webhook for "*". */
static int setup_cluster(void **state)
{
    if (!base_url() || !getenv("HERALD_TEST_PG_SCRIPT"))
        return 0;
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->cluster, sizeof f->cluster, "/tmp/herald-pg-XXXXXX");
    assert_non_null(mkdtemp(f->cluster));
    *state = f;
    /* cmocka skips the teardown of a failed setup: stop what we started. */
    int rc = pg_script(f, "start", f->url, sizeof f->url);
    if (rc == 0)
        rc = store_open(f->url, 4, &f->s);
    if (rc != 0)
        pg_script(f, "stop", NULL, 0); /* removes the directory too */
    assert_int_equal(rc, 0);
    mk_account(f->s, f->acct);
    mk_webhook(f->s, f->acct, f->hook);
    return 0;
}

static int teardown_cluster(void **state)
{
    struct fx *f = *state;
    if (!f)
        return 0;
    store_close(f->s);
    pg_script(f, "stop", NULL, 0); /* also after a failed assertion */
    free(f);
    return 0;
}

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!base_url())                                                                           \
            skip();                                                                                \
    } while (0)

static void ingest_n(struct store *s, const char *acct, int n, int64_t t)
{
    struct store_ingest *b = calloc((size_t)n, sizeof *b);
    assert_non_null(b);
    for (int i = 0; i < n; i++) {
        b[i].account_id = acct;
        b[i].type = "post.published";
        b[i].data = "{\"n\":1}";
        b[i].data_len = 7;
        id_new(b[i].id, "evt", t + i);
        b[i].created_at = t + i;
    }
    assert_int_equal(OPS(s)->ingest(s, b, (size_t)n), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(b[i].deliveries, 1);
    free(b);
}

/* ---- two nodes claiming --------------------------------------------- */

struct node {
    struct store *s;
    char owner[32];
    char (*ids)[HERALD_ID_MAX];
    size_t n, cap;
    int rc;
};

static void *claim_loop(void *arg)
{
    struct node *k = arg;
    for (;;) {
        struct store_claim *c;
        size_t n;
        k->rc = OPS(k->s)->claim_due(k->s, k->owner, T0 + HOUR, FAR, 25, &c, &n);
        if (k->rc != 0 || n == 0)
            break;
        for (size_t i = 0; i < n && k->n < k->cap; i++)
            memcpy(k->ids[k->n++], c[i].delivery_id, HERALD_ID_MAX);
        store_claims_free(c, n);
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Two stores (two nodes, two pools), two dispatcher threads each, claim
 * one backlog at once: every delivery is claimed exactly once. */
static void test_two_nodes_claim_disjoint(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    enum { EVENTS = 2000, NODES = 4, CAP = EVENTS };
    for (int i = 0; i < EVENTS; i += 500)
        ingest_n(f->s, f->acct, 500, T0 + i);
    struct store *second;
    assert_int_equal(store_open(f->url, 4, &second), 0);

    char(*ids)[HERALD_ID_MAX] = calloc((size_t)NODES * CAP, HERALD_ID_MAX);
    assert_non_null(ids);
    struct node k[NODES];
    pthread_t th[NODES];
    for (int i = 0; i < NODES; i++) {
        k[i] = (struct node){.s = i % 2 ? second : f->s, .ids = ids + (size_t)i * CAP, .cap = CAP};
        snprintf(k[i].owner, sizeof k[i].owner, "node-%d/%d", i % 2, i);
        assert_int_equal(pthread_create(&th[i], NULL, claim_loop, &k[i]), 0);
    }
    size_t total = 0;
    for (int i = 0; i < NODES; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(k[i].rc, 0);
        memmove(ids + total, k[i].ids, k[i].n * HERALD_ID_MAX);
        total += k[i].n;
    }
    assert_int_equal(total, EVENTS);
    qsort(ids, total, HERALD_ID_MAX, cmp_id);
    for (size_t i = 1; i < total; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    /* Both nodes took part (each claims batches of 25 out of 2000). */
    assert_true(k[0].n + k[2].n > 0);
    assert_true(k[1].n + k[3].n > 0);
    free(ids);
    store_close(second);
}

/* A node that stops recording loses its deliveries to another node once
 * the lease expires; its late result is logged but changes nothing. */
static void test_expired_lease_moves_to_other_node(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    ingest_n(f->s, f->acct, 1, T0);
    struct store *b;
    assert_int_equal(store_open(f->url, 2, &b), 0);

    struct store_claim *c;
    size_t n;
    assert_int_equal(OPS(f->s)->claim_due(f->s, "node-a", T0 + 1, T0 + 60 * SEC, 10, &c, &n), 0);
    assert_int_equal(n, 1);
    char dlv[HERALD_ID_MAX];
    memcpy(dlv, c[0].delivery_id, sizeof dlv);
    store_claims_free(c, n);

    /* Leased: node b gets nothing until the lease expires. */
    assert_int_equal(OPS(b)->claim_due(b, "node-b", T0 + 59 * SEC, T0 + HOUR, 10, &c, &n), 0);
    assert_int_equal(n, 0);
    int64_t at;
    assert_int_equal(OPS(b)->next_due(b, &at), 0);
    assert_int_equal(at, T0 + 60 * SEC);
    assert_int_equal(OPS(b)->claim_due(b, "node-b", T0 + 61 * SEC, T0 + HOUR, 10, &c, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].delivery_id, dlv);
    struct store_result late = {
        .delivery_id = c[0].delivery_id,
        .event_id = c[0].event_id,
        .webhook_id = c[0].webhook_id,
        .event_type = c[0].event_type,
        .n = 1,
        .started_at = T0 + 62 * SEC,
        .duration_ms = 5,
        .response_code = 200,
        .outcome = STORE_SUCCEEDED,
        .request_headers = "{}",
    };
    id_new(late.attempt_id, "att", T0);
    /* node-a's late success is logged but the delivery stays node-b's. */
    assert_int_equal(OPS(f->s)->record(f->s, "node-a", &late, 1, NULL, 0), 0);
    struct store_delivery d;
    assert_int_equal(OPS(b)->delivery_get(b, f->acct, dlv, &d), 0);
    assert_string_equal(d.status, "in_flight");
    id_new(late.attempt_id, "att", T0 + 1);
    assert_int_equal(OPS(b)->record(b, "node-b", &late, 1, NULL, 0), 0);
    assert_int_equal(OPS(f->s)->delivery_get(f->s, f->acct, dlv, &d), 0);
    assert_string_equal(d.status, "succeeded");
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM attempts"), 2);
    store_claims_free(c, n);
    store_close(b);
}

/* ---- bytes ------------------------------------------------------------ */

/* Payloads, idempotency keys (header bytes) and response bodies are kept
 * byte for byte: invalid UTF-8 and NUL bytes included, never re-encoded
 * (a TEXT or jsonb column would refuse or rewrite them). */
static void test_bytes_exact(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    static const char data[] = "{\"t\":\"caf\xc3\xa9 \xff\xfe\",  \"z\":\"\0\"}";
    const size_t len = sizeof data - 1;
    struct store_ingest it = {0};
    it.account_id = f->acct;
    it.type = "post.published";
    it.data = data;
    it.data_len = len;
    it.idempotency_key = "k\xff\x80y";
    id_new(it.id, "evt", T0);
    it.created_at = T0;
    assert_int_equal(OPS(f->s)->ingest(f->s, &it, 1), 0);
    assert_int_equal(it.deliveries, 1);

    struct store_event e;
    assert_int_equal(OPS(f->s)->event_get(f->s, f->acct, it.id, &e), 0);
    assert_int_equal(e.payload_len, len);
    assert_memory_equal(e.payload, data, len);
    assert_string_equal(e.idempotency_key, "k\xff\x80y");
    store_event_release(&e);

    struct store_ingest again = it;
    id_new(again.id, "evt", T0 + 1);
    assert_int_equal(OPS(f->s)->ingest(f->s, &again, 1), 0);
    assert_true(again.duplicate);
    assert_string_equal(again.id, it.id);

    struct store_claim *c;
    size_t n;
    assert_int_equal(OPS(f->s)->claim_due(f->s, "n", T0 + 1, T0 + HOUR, 10, &c, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].payload_len, len);
    assert_memory_equal(c[0].payload, data, len);
    static const char body[] = "\x89PNG\r\n\x1a\n\0\xff";
    struct store_result r = {
        .delivery_id = c[0].delivery_id,
        .event_id = c[0].event_id,
        .webhook_id = c[0].webhook_id,
        .event_type = c[0].event_type,
        .n = 1,
        .started_at = T0 + 2,
        .duration_ms = 3,
        .response_code = 500,
        .error = "http",
        .response_body = body,
        .response_len = sizeof body - 1,
        .request_headers = "{}",
        .outcome = STORE_FAILED,
    };
    id_new(r.attempt_id, "att", T0 + 2);
    assert_int_equal(OPS(f->s)->record(f->s, "n", &r, 1, NULL, 0), 0);
    store_claims_free(c, n);
    assert_int_equal(schema_int(f, "SELECT length(response_body) FROM attempts"),
                     (long long)(sizeof body - 1));
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM attempts WHERE response_body = "
                                   "'\\x89504e470d0a1a0a00ff'::bytea"),
                     1);
}

/* ---- idempotency across nodes ---------------------------------------- */

struct keyed {
    struct store *s;
    const char *acct;
    pthread_barrier_t *go;
    const char *keys[2]; /* in this node's order */
    struct store_ingest it[2];
    int rc;
};

static void *ingest_keyed(void *arg)
{
    struct keyed *k = arg;
    for (int i = 0; i < 2; i++) {
        struct store_ingest *it = &k->it[i];
        memset(it, 0, sizeof *it);
        it->account_id = k->acct;
        it->type = "post.published";
        it->data = "{}";
        it->data_len = 2;
        it->idempotency_key = k->keys[i];
        id_new(it->id, "evt", T0);
        it->created_at = T0;
    }
    pthread_barrier_wait(k->go);
    k->rc = OPS(k->s)->ingest(k->s, k->it, 2);
    return NULL;
}

static const struct store_ingest *with_key(const struct keyed *k, const char *key)
{
    return strcmp(k->it[0].idempotency_key, key) == 0 ? &k->it[0] : &k->it[1];
}

/* Two nodes commit the same idempotency keys at the same moment, listed
 * in opposite orders: both succeed, each key makes exactly one event, and
 * both answer with that event (the later one as a duplicate). */
static void test_idempotency_race(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    struct store *b;
    assert_int_equal(store_open(f->url, 2, &b), 0);
    for (int round = 0; round < 20; round++) {
        char k1[32], k2[32];
        snprintf(k1, sizeof k1, "key-%d-a", round);
        snprintf(k2, sizeof k2, "key-%d-b", round);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        struct keyed x[2] = {
            {.s = f->s, .acct = f->acct, .go = &go, .keys = {k1, k2}},
            {.s = b, .acct = f->acct, .go = &go, .keys = {k2, k1}},
        };
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, ingest_keyed, &x[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        assert_int_equal(x[0].rc, 0);
        assert_int_equal(x[1].rc, 0);
        const char *keys[2] = {k1, k2};
        for (int k = 0; k < 2; k++) {
            const struct store_ingest *a = with_key(&x[0], keys[k]);
            const struct store_ingest *c = with_key(&x[1], keys[k]);
            assert_string_equal(a->id, c->id);
            assert_true(a->duplicate != c->duplicate);
            assert_int_equal(a->deliveries, 1);
            assert_int_equal(c->deliveries, 1);
        }
    }
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM events"), 40);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM deliveries"), 40);
    store_close(b);
}

/* A raw connection in the fixture's schema, for transactions the test
 * holds open. */
static PGconn *raw_conn(struct fx *f)
{
    PGconn *c = PQconnectdb(f->url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static ExecStatusType raw_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    return st;
}

/* Inserts an uncommitted event holding key; returns its id in id. */
static void raw_hold_key(struct fx *f, PGconn *c, const char *key, char id[HERALD_ID_MAX])
{
    id_new(id, "evt", T0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO events (id, account_id, type, payload, idempotency_key, created_at)"
             " VALUES ('%s', '%s', 'post.published', '\\x7b7d', '%s', %lld)",
             id, f->acct, key, T0);
    assert_int_equal(raw_exec(c, sql), PGRES_COMMAND_OK);
}

/* Polls until some backend waits on a lock (our ingest, behind the
 * holder's uncommitted key). */
static void wait_for_lock_waiter(struct fx *f)
{
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while (schema_int(f, "SELECT COUNT(*) FROM pg_locks WHERE NOT granted") == 0) {
        assert_true(clock_mono_ms() < deadline);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

struct bg_ingest {
    struct store *s;
    struct store_ingest it[2];
    size_t n;
    int rc;
};

static void *bg_ingest_run(void *arg)
{
    struct bg_ingest *b = arg;
    b->rc = OPS(b->s)->ingest(b->s, b->it, b->n);
    return NULL;
}

static void keyed_item(struct store_ingest *it, const char *acct, const char *key)
{
    memset(it, 0, sizeof *it);
    it->account_id = acct;
    it->type = "post.published";
    it->data = "{}";
    it->data_len = 2;
    it->idempotency_key = key;
    id_new(it->id, "evt", T0 + 1);
    it->created_at = T0 + 1;
}

/* Our ingest looked its key up before another node committed the same
 * key: the insert waits for that node, then answers with its event as a
 * duplicate instead of failing the whole batch. */
static void test_idempotency_lost_race(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    PGconn *holder = raw_conn(f);
    assert_int_equal(raw_exec(holder, "BEGIN"), PGRES_COMMAND_OK);
    char held[HERALD_ID_MAX];
    raw_hold_key(f, holder, "race-key", held);

    struct store_stats s0, s1;
    assert_int_equal(OPS(f->s)->stats(f->s, &s0), 0);
    struct bg_ingest b = {.s = f->s, .n = 2};
    keyed_item(&b.it[0], f->acct, "race-key");
    keyed_item(&b.it[1], f->acct, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_ingest_run, &b), 0);
    wait_for_lock_waiter(f);
    assert_int_equal(raw_exec(holder, "COMMIT"), PGRES_COMMAND_OK);
    pthread_join(th, NULL);
    PQfinish(holder);

    assert_int_equal(b.rc, 0);
    assert_true(b.it[0].duplicate);
    assert_string_equal(b.it[0].id, held);
    assert_int_equal(b.it[0].deliveries, 0); /* the raw event made none */
    assert_string_equal(b.it[0].first_delivery_id, "");
    assert_false(b.it[1].duplicate);
    assert_int_equal(b.it[1].deliveries, 1);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM events"), 2);
    /* stats counts the one event our insert stored, not the one it sent
     * and skipped (the raw event went around the counts). */
    assert_int_equal(OPS(f->s)->stats(f->s, &s1), 0);
    assert_int_equal(s1.events - s0.events, 1);
}

/* Two writers take the same two keys in opposite orders: PostgreSQL
 * breaks the deadlock by failing the one whose deadlock_timeout fires
 * first, here our ingest (the holder waits 10 s before checking). The
 * ingest runs again (its transaction rolled back, nothing was kept) and
 * answers with the holder's events; whichever side loses, the ingest
 * succeeds and each key ends with exactly one event. */
static void test_idempotency_deadlock(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    PGconn *holder = raw_conn(f);
    assert_int_equal(raw_exec(holder, "SET deadlock_timeout = '10s'"), PGRES_COMMAND_OK);
    assert_int_equal(raw_exec(holder, "BEGIN"), PGRES_COMMAND_OK);
    char held[HERALD_ID_MAX];
    raw_hold_key(f, holder, "k2", held);

    struct bg_ingest b = {.s = f->s, .n = 2};
    keyed_item(&b.it[0], f->acct, "k1");
    keyed_item(&b.it[1], f->acct, "k2");
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_ingest_run, &b), 0);
    wait_for_lock_waiter(f); /* ingest holds k1, waits for k2 */
    char other[HERALD_ID_MAX];
    id_new(other, "evt", T0);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO events (id, account_id, type, payload, idempotency_key, created_at)"
             " VALUES ('%s', '%s', 'post.published', '\\x7b7d', 'k1', %lld)",
             other, f->acct, T0);
    bool holder_won = raw_exec(holder, sql) == PGRES_COMMAND_OK;
    raw_exec(holder, holder_won ? "COMMIT" : "ROLLBACK");
    pthread_join(th, NULL);
    PQfinish(holder);

    assert_int_equal(b.rc, 0);
    assert_int_equal(b.it[0].duplicate, holder_won);
    assert_int_equal(b.it[1].duplicate, holder_won);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM events WHERE idempotency_key = 'k1'"), 1);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM events WHERE idempotency_key = 'k2'"), 1);
}

/* ---- stats ------------------------------------------------------------ */

/* stats (the counts table) equals the tables counted directly. */
static void check_exact(struct fx *f, struct store *s, int line)
{
    struct store_stats st;
    assert_int_equal(OPS(s)->stats(s, &st), 0);
    static const char *const q[5] = {
        "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'in_flight')",
        "SELECT COUNT(*) FROM deliveries WHERE status = 'in_flight'",
        "SELECT COUNT(*) FROM deliveries WHERE status = 'succeeded'",
        "SELECT COUNT(*) FROM deliveries WHERE status = 'failed'",
        "SELECT COUNT(*) FROM events",
    };
    int64_t got[6] = {st.pending, st.in_flight, st.succeeded, st.failed, st.events, st.attempts};
    for (int i = 0; i < 6; i++) {
        long long want = schema_int(f, i < 5 ? q[i] : "SELECT COUNT(*) FROM attempts");
        if (got[i] != want)
            fail_msg("line %d: figure %d of stats is %lld, the table says %lld", line, i,
                     (long long)got[i], want);
    }
}
#define CHECK_EXACT(s) check_exact(f, (s), __LINE__)

static struct store_result result_of(const struct store_claim *c, enum store_outcome o, int64_t t)
{
    struct store_result r = {
        .delivery_id = c->delivery_id,
        .account_id = c->account_id,
        .event_id = c->event_id,
        .webhook_id = c->webhook_id,
        .event_type = c->event_type,
        .n = c->attempts + 1,
        .started_at = t,
        .duration_ms = 5,
        .response_code = o == STORE_SUCCEEDED ? 200 : 500,
        .error = o == STORE_SUCCEEDED ? "" : "http",
        .request_headers = "{}",
        .outcome = o,
        .next_attempt_at = t, /* a retry is due again at once */
    };
    id_new(r.attempt_id, "att", t);
    return r;
}

/* One post.published event of the fixture's account, created at t. */
static struct store_ingest plain_item(struct fx *f, int64_t t)
{
    struct store_ingest it = {0};
    it.account_id = f->acct;
    it.type = "post.published";
    it.data = "{}";
    it.data_len = 2;
    id_new(it.id, "evt", t);
    it.created_at = t;
    return it;
}

struct worker {
    struct store *s;
    const char *acct;
    char owner[32];
    int rc;
};

/* One node's writer: ingests, claims (pending and expired rows alike),
 * records every outcome, records the same batch again (a retry whose
 * COMMIT answer was lost: same attempt ids), defers and releases. */
static void *stats_worker(void *arg)
{
    struct worker *w = arg;
    struct store *s = w->s;
    for (int round = 0; round < 15 && w->rc == 0; round++) {
        int64_t t = T0 + round * 100;
        struct store_ingest it[10] = {0};
        for (int i = 0; i < 10; i++) {
            it[i].account_id = w->acct;
            it[i].type = "post.published";
            it[i].data = "{}";
            it[i].data_len = 2;
            id_new(it[i].id, "evt", t + i);
            it[i].created_at = t + i;
        }
        if ((w->rc = OPS(s)->ingest(s, it, 10)) != 0)
            break;
        struct store_claim *c;
        size_t n;
        /* Short leases: other rounds and nodes reclaim rows in flight. */
        if ((w->rc = OPS(s)->claim_due(s, w->owner, t + 50, t + 60, 12, &c, &n)) != 0)
            break;
        struct store_result r[12];
        struct store_deferral d[12];
        size_t nr = 0, nd = 0;
        for (size_t i = 0; i < n; i++) {
            if (i % 4 == 3) {
                d[nd] = (struct store_deferral){.until = t + 70, .lease_until = c[i].lease_until};
                memcpy(d[nd++].delivery_id, c[i].delivery_id, HERALD_ID_MAX);
            } else {
                r[nr++] = result_of(&c[i], (enum store_outcome)(i % 3), t + 55);
            }
        }
        if (nr > 0 && (w->rc = OPS(s)->record(s, w->owner, r, nr, NULL, 0)) == 0)
            w->rc = OPS(s)->record(s, w->owner, r, nr, NULL, 0);
        if (w->rc == 0 && nd > 0)
            w->rc = OPS(s)->defer(s, w->owner, d, nd, t + 56);
        store_claims_free(c, n);
        if (w->rc == 0 && (w->rc = OPS(s)->claim_due(s, w->owner, t + 80, FAR, 3, &c, &n)) == 0) {
            store_claims_free(c, n);
            w->rc = OPS(s)->release(s, w->owner, t + 90);
        }
    }
    return NULL;
}

/* Several nodes writing at once keep stats exact, and so does each kind
 * of write alone: a delivery born leased, a record retried with the same
 * attempt ids, a webhook deleted with deliveries in flight. */
static void test_stats_exact(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    CHECK_EXACT(f->s);
    struct store_ingest born = plain_item(f, T0);
    born.lease_owner = "node-a";
    born.lease_until = T0 + 10;
    assert_int_equal(OPS(f->s)->ingest(f->s, &born, 1), 0);
    assert_int_equal(born.deliveries, 1);
    CHECK_EXACT(f->s);
    struct store_claim *c;
    size_t n;
    assert_int_equal(OPS(f->s)->claim_due(f->s, "node-a", T0 + 20, T0 + 30, 10, &c, &n), 0);
    assert_int_equal(n, 1); /* its lease expired: claimed, still in flight */
    CHECK_EXACT(f->s);
    struct store_result r = result_of(&c[0], STORE_SUCCEEDED, T0 + 25);
    assert_int_equal(OPS(f->s)->record(f->s, "node-a", &r, 1, NULL, 0), 0);
    CHECK_EXACT(f->s);
    assert_int_equal(OPS(f->s)->record(f->s, "node-a", &r, 1, NULL, 0), 0);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM attempts"), 1);
    CHECK_EXACT(f->s);
    store_claims_free(c, n);

    enum { NODES = 2, WORKERS = 4 };
    struct store *node[NODES] = {f->s};
    assert_int_equal(store_open(f->url, 4, &node[1]), 0);
    struct worker w[WORKERS];
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.s = node[i % NODES], .acct = f->acct};
        snprintf(w[i].owner, sizeof w[i].owner, "node-%d/%d", i % NODES, i);
        assert_int_equal(pthread_create(&th[i], NULL, stats_worker, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    CHECK_EXACT(node[1]);
    store_close(node[1]);
    assert_int_equal(OPS(f->s)->claim_due(f->s, "node-z", T0 + HOUR, FAR, 5, &c, &n), 0);
    assert_int_equal(n, 5);
    store_claims_free(c, n);
    CHECK_EXACT(f->s);
    assert_true(schema_int(f, "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'") > 0);
    assert_int_equal(OPS(f->s)->webhook_delete(f->s, f->acct, f->hook, T0 + HOUR), 0);
    CHECK_EXACT(f->s);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM deliveries"
                                   " WHERE status IN ('pending', 'in_flight')"),
                     0);
}

struct bg_record {
    struct store *s;
    struct store_result r;
    int rc;
};

static void *bg_record_run(void *arg)
{
    struct bg_record *b = arg;
    b->rc = OPS(b->s)->record(b->s, "node-a", &b->r, 1, NULL, 0);
    return NULL;
}

/* A write transaction run again keeps only its last try's counts. A
 * holder takes every count row, so the record waits at its counts upsert
 * with its deltas made; the holder then asks for the delivery the record
 * has locked, and PostgreSQL fails the record (its deadlock_timeout fires
 * first: the holder's is 10 s), which runs again once the holder commits.
 * Deltas carried from the failed try would count the result twice. */
static void test_stats_retried_write(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    struct store_ingest it = plain_item(f, T0);
    assert_int_equal(OPS(f->s)->ingest(f->s, &it, 1), 0);
    struct store_claim *c;
    size_t n;
    assert_int_equal(OPS(f->s)->claim_due(f->s, "node-a", T0, FAR, 10, &c, &n), 0);
    assert_int_equal(n, 1);
    CHECK_EXACT(f->s);

    PGconn *holder = raw_conn(f);
    /* Rows for every slot (COUNT_SLOTS in postgres.c), so that the
     * record's upsert meets a held row whichever connection it runs on
     * (zeros change no figure). */
    assert_int_equal(raw_exec(holder, "INSERT INTO counts (slot, name, n)"
                                      " SELECT s, x, 0 FROM generate_series(0, 1023) s,"
                                      " unnest(ARRAY['attempts', 'in_flight', 'succeeded']) x"
                                      " ON CONFLICT DO NOTHING"),
                     PGRES_COMMAND_OK);
    assert_int_equal(raw_exec(holder, "SET deadlock_timeout = '10s'"), PGRES_COMMAND_OK);
    assert_int_equal(raw_exec(holder, "BEGIN"), PGRES_COMMAND_OK);
    assert_int_equal(raw_exec(holder, "UPDATE counts SET n = n"), PGRES_COMMAND_OK);
    struct bg_record b = {.s = f->s, .r = result_of(&c[0], STORE_SUCCEEDED, T0 + 5)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_record_run, &b), 0);
    wait_for_lock_waiter(f); /* the record, at its counts */
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE deliveries SET updated_at = updated_at WHERE id = '%s'",
             c[0].delivery_id);
    /* Returns once the record's try has been failed and rolled back. */
    assert_int_equal(raw_exec(holder, sql), PGRES_COMMAND_OK);
    assert_int_equal(raw_exec(holder, "COMMIT"), PGRES_COMMAND_OK);
    pthread_join(th, NULL);
    PQfinish(holder);

    assert_int_equal(b.rc, 0);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM attempts"), 1);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM deliveries WHERE status = 'succeeded'"),
                     1);
    CHECK_EXACT(f->s);
    store_claims_free(c, n);
}

/* A database written before the counts table existed (schema version 2)
 * reports the same stats once migrated. */
static void test_stats_migration(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    ingest_n(f->s, f->acct, 5, T0);
    struct store_claim *c;
    size_t n;
    assert_int_equal(OPS(f->s)->claim_due(f->s, "node-a", T0 + 10, FAR, 3, &c, &n), 0);
    assert_int_equal(n, 3);
    struct store_result r[2] = {result_of(&c[0], STORE_SUCCEEDED, T0 + 20),
                                result_of(&c[1], STORE_FAILED, T0 + 20)};
    assert_int_equal(OPS(f->s)->record(f->s, "node-a", r, 2, NULL, 0), 0);
    store_claims_free(c, n);
    struct store_stats before, after;
    assert_int_equal(OPS(f->s)->stats(f->s, &before), 0);
    assert_int_equal(before.events, 5);
    assert_int_equal(before.attempts, 2);
    assert_int_equal(before.pending, 3); /* with the one in flight */
    assert_int_equal(before.in_flight, 1);
    assert_int_equal(before.succeeded, 1);
    assert_int_equal(before.failed, 1);
    store_close(f->s);
    f->s = NULL;

    /* Back to version 2, as an older herald left it. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SET search_path = %s; DROP TABLE counts;"
             " UPDATE schema_version SET version = 2",
             f->schema);
    admin_sql(sql);
    assert_int_equal(store_open(f->url, 4, &f->s), 0);
    assert_int_equal(OPS(f->s)->stats(f->s, &after), 0);
    assert_memory_equal(&before, &after, sizeof before);
    CHECK_EXACT(f->s);
}

/* ---- plans ------------------------------------------------------------ */

/* The backend's statements by name, as postgres.c prepares them. */
#define SQL_NAME(name, sql) SQL_##name,
enum { PG_STATEMENTS(SQL_NAME) SQL_COUNT };
#define SQL_TEXT(name, sql) sql,
static const char *const pg_sql[SQL_COUNT] = {PG_STATEMENTS(SQL_TEXT)};

/* "{a,a,…}": n copies of one array element, for a statement's parameter. */
static char *array_of(const char *elem, size_t n)
{
    size_t len = strlen(elem) + 1;
    char *a = malloc(n * len + 3);
    assert_non_null(a);
    char *p = a;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", elem);
    strcpy(p, "}");
    return a;
}

/* Plans `explain` under each plan cache mode: the custom plans PostgreSQL
 * makes for its first executions, and the generic one it may keep after.
 * Each must probe the primary key row by row and nothing else (for a batch
 * much smaller than the table: a batch near the table's size is rightly
 * served by one scan of it). */
static void check_by_key(PGconn *pg, const char *explain)
{
    static const char *const modes[] = {"force_custom_plan", "force_generic_plan"};
    for (size_t m = 0; m < 2; m++) {
        char set[64];
        snprintf(set, sizeof set, "SET plan_cache_mode = %s", modes[m]);
        PGresult *r = PQexec(pg, set);
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
        r = PQexec(pg, explain);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        char plan[8192] = "";
        for (int i = 0; i < PQntuples(r); i++)
            snprintf(plan + strlen(plan), sizeof plan - strlen(plan), "%s\n", PQgetvalue(r, i, 0));
        PQclear(r);
        if (!strstr(plan, "Nested Loop") || !strstr(plan, "Index Scan using deliveries_pkey") ||
            !strstr(plan, "Index Cond: (id = ") || strstr(plan, "deliveries_lease") ||
            strstr(plan, "deliveries_webhook_active") || strstr(plan, "Seq Scan on deliveries"))
            fail_msg("%s:\n%s", modes[m], plan);
    }
}

/* Recording and deferring results reach each delivery through its primary
 * key, however many rows the node holds leased. Checked on plans, as a
 * record's cost is not something a test may time. With the lease as
 * "lease_owner = $1 AND status = 'in_flight'", the planner, whose
 * statistics (taken here before any lease, as autovacuum's often are) do
 * not know how many rows a node has leased, hashed a bitmap of the lease
 * index ANDed with a scan of the whole index of unfinished deliveries: a
 * cost that grew with the backlog on every record. */
static void test_results_reach_rows_by_key(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    enum { EVENTS = 8000, LEASED = 6000, BATCH = 30 };
    for (int i = 0; i < EVENTS; i += 1000)
        ingest_n(f->s, f->acct, 1000, T0 + i);
    PGconn *pg = PQconnectdb(f->url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PQclear(PQexec(pg, "ANALYZE deliveries"));
    struct store_claim *c;
    size_t n;
    assert_int_equal(OPS(f->s)->claim_due(f->s, "node-a", T0 + HOUR, FAR, LEASED, &c, &n), 0);
    assert_int_equal(n, LEASED);

    char *ids = malloc(BATCH * HERALD_ID_MAX + 3);
    assert_non_null(ids);
    char *p = ids;
    *p++ = '{';
    for (size_t i = 0; i < BATCH; i++)
        p += sprintf(p, "%s%s", i ? "," : "", c[i * (LEASED / BATCH)].delivery_id);
    strcpy(p, "}");
    char *status = array_of("succeeded", BATCH), *ones = array_of("1", BATCH);
    char *zeros = array_of("0", BATCH), *owners = array_of("node-a", BATCH);
    char *sql = malloc(strlen(pg_sql[SQL_DLV_RESULT]) + strlen(pg_sql[SQL_DLV_DEFER]) + 64);
    assert_non_null(sql);
    sprintf(sql, "PREPARE rec AS %s", pg_sql[SQL_DLV_RESULT]);
    PGresult *r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    sprintf(sql, "PREPARE dfr AS %s", pg_sql[SQL_DLV_DEFER]);
    r = PQexec(pg, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    size_t len = 6 * strlen(ids) + 256;
    char *explain = malloc(len);
    assert_non_null(explain);
    snprintf(explain, len, "EXPLAIN EXECUTE rec('%s', '%s', '%s', '%s', '%s', '%s')", ids, status,
             ones, zeros, zeros, owners);
    check_by_key(pg, explain);
    snprintf(explain, len, "EXPLAIN EXECUTE dfr(0, '%s', '%s', '%s', '%s')", ids, zeros, zeros,
             owners);
    check_by_key(pg, explain);

    free(explain);
    free(sql);
    free(ids);
    free(status);
    free(ones);
    free(zeros);
    free(owners);
    PQfinish(pg);
    store_claims_free(c, n);
}

/* ---- migrations ------------------------------------------------------ */

struct opener {
    const char *url;
    pthread_barrier_t *go;
    struct store *s;
    int rc;
};

static void *open_store(void *arg)
{
    struct opener *o = arg;
    pthread_barrier_wait(o->go);
    o->rc = store_open(o->url, 1, &o->s);
    return NULL;
}

/* Nodes starting together on an empty database: all open, the schema is
 * created once. Without the advisory lock, concurrent CREATE TABLEs
 * fail with "already exists" or a unique violation in the catalog. */
static void test_concurrent_migrations(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    enum { N = 4 };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    struct opener o[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        o[i] = (struct opener){.url = f->url, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, open_store, &o[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++)
        assert_int_equal(o[i].rc, 0);
    assert_int_equal(schema_int(f, "SELECT COUNT(*) FROM schema_version"), 1);
    assert_true(schema_int(f, "SELECT version FROM schema_version") >= 1);
    /* Every handle works on the one schema. */
    mk_account(o[0].s, f->acct);
    struct store_account a;
    for (int i = 0; i < N; i++) {
        assert_int_equal(OPS(o[i].s)->account_get(o[i].s, f->acct, &a), 0);
        store_close(o[i].s);
    }
}

/* ---- LISTEN/NOTIFY --------------------------------------------------- */

static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* Empties whatever is pending (e.g. our own setup's wake-ups). */
static void settle(struct store *s)
{
    int fd = OPS(s)->notify_fd(s);
    assert_true(fd >= 0);
    while (readable(fd, 200))
        OPS(s)->notify_consume(s);
}

/* Another node's ingest wakes this node's dispatcher. */
static void test_notify_wakes_other_node(void **state)
{
    NEED_PG();
    struct fx *f = *state;
    struct store *b;
    assert_int_equal(store_open(f->url, 2, &b), 0);
    assert_non_null(OPS(f->s)->notify_fd);
    settle(f->s);
    int fd = OPS(f->s)->notify_fd(f->s);
    assert_false(readable(fd, 0));

    ingest_n(b, f->acct, 1, T0);
    assert_true(readable(fd, WAIT_MS));
    OPS(f->s)->notify_consume(f->s);
    assert_int_equal(OPS(f->s)->notify_fd(f->s), fd); /* same connection */

    /* A retry made due by another node wakes us too. */
    struct store_claim *c;
    size_t n;
    assert_int_equal(OPS(b)->claim_due(b, "node-b", T0 + 1, T0 + HOUR, 10, &c, &n), 0);
    assert_int_equal(n, 1);
    settle(f->s);
    assert_int_equal(OPS(b)->release(b, "node-b", T0 + 2), 0);
    assert_true(readable(fd, WAIT_MS));
    OPS(f->s)->notify_consume(f->s);
    store_claims_free(c, n);
    store_close(b);
}

/* ---- restart --------------------------------------------------------- */

/* The database goes away and comes back: while it is down every call
 * fails fast with EBUSY/ESTORE (the API's 503) and the LISTEN socket
 * reports it; afterwards the same store works again, nothing lost. */
static void test_restart(void **state)
{
    NEED_PG();
    if (!getenv("HERALD_TEST_PG_SCRIPT"))
        skip();
    struct fx *f = *state;
    ingest_n(f->s, f->acct, 3, T0);
    settle(f->s);
    int fd = OPS(f->s)->notify_fd(f->s);

    assert_int_equal(pg_script(f, "pause", NULL, 0), 0);
    int rc = OPS(f->s)->ping(f->s);
    assert_true(rc == HERALD_EBUSY || rc == HERALD_ESTORE);
    struct store_ingest it = {0};
    it.account_id = f->acct;
    it.type = "post.published";
    it.data = "{}";
    it.data_len = 2;
    id_new(it.id, "evt", T0 + 10);
    it.created_at = T0 + 10;
    rc = OPS(f->s)->ingest(f->s, &it, 1);
    assert_true(rc == HERALD_EBUSY || rc == HERALD_ESTORE);
    /* The LISTEN connection saw the server go: its socket says so. */
    assert_true(readable(fd, WAIT_MS));
    OPS(f->s)->notify_consume(f->s);
    assert_int_equal(OPS(f->s)->notify_fd(f->s), -1);

    assert_int_equal(pg_script(f, "resume", NULL, 0), 0);
    int64_t deadline = clock_mono_ms() + WAIT_MS;
    while ((rc = OPS(f->s)->ping(f->s)) != 0 && clock_mono_ms() < deadline) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(OPS(f->s)->ingest(f->s, &it, 1), 0);
    assert_int_equal(it.deliveries, 1);
    struct store_claim *c;
    size_t n;
    assert_int_equal(OPS(f->s)->claim_due(f->s, "node-a", T0 + HOUR, FAR, 10, &c, &n), 0);
    assert_int_equal(n, 4); /* the three from before and the new one */
    store_claims_free(c, n);

    /* LISTEN comes back, and its first wake-up covers the gap. */
    while ((fd = OPS(f->s)->notify_fd(f->s)) < 0 && clock_mono_ms() < deadline) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(fd >= 0);
    assert_true(readable(fd, WAIT_MS));
    OPS(f->s)->notify_consume(f->s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_nodes_claim_disjoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_lease_moves_to_other_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_lost_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_deadlock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_retried_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_results_reach_rows_by_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_migrations, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_notify_wakes_other_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup_cluster, teardown_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
