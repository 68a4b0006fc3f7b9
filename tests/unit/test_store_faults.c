/*
 * test_store_faults.c — the SQLite store when SQLite runs out of memory.
 *
 * SQLite's own allocator is replaced (sqlite3_config(SQLITE_CONFIG_MALLOC))
 * before the store opens, by one that fails the Nth allocation after it is
 * armed — once (transient), or that one and every later one (persistent).
 * Lookaside is turned off so every allocation SQLite makes goes through it.
 * Each store operation then runs under the SQLite test suite's OOM loop:
 * N = 1, 2, 3, … until the operation completes without reaching the Nth
 * allocation. Every attempt must either succeed completely or fail with a
 * 503-class error (HERALD_ENOMEM, HERALD_ESTORE or HERALD_EBUSY; never a
 * 404 or 409 for an allocation failure) and leave the database exactly as
 * it was (read afresh with the allocator back to normal). After each
 * attempt the same operation must work again without the fault, and an
 * ingest must still be durable: every successful ingest commit must call
 * fdatasync (counted by a pass-through fdatasync defined in this file,
 * which SQLite calls through the dynamic linker), so a connection left
 * with synchronous=OFF by a half-finished claim would be caught.
 *
 * ASan and LSan run with the test build: a crash or a leak on any of the
 * error paths fails the test too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/err.h"
#include "core/id.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#define T0 1700000000000LL
#define FAR (INT64_MAX / 4) /* a lease that never expires here */
#define MAX_N 200000        /* an OOM loop longer than this is a bug in itself */
#define MAX_EVENTS 16384
#define SNAP_CAP 65536

/* ---- the failing allocator ------------------------------------------ */

static sqlite3_mem_methods real_mem;
static atomic_bool armed;
static atomic_long n_alloc; /* allocations since armed */
static atomic_long fail_at; /* the allocation number that fails */
static atomic_bool persistent;
static atomic_long n_failed; /* allocations refused since armed */

/* Only the test's own thread is counted, for allocations and syncs: the
 * store's checkpoint thread allocates and syncs on its own schedule, and
 * could take the failure meant for the operation under test (or hide a
 * commit that did not sync). */
static pthread_t test_thread;

static bool on_test_thread(void)
{
    return pthread_equal(pthread_self(), test_thread);
}

static bool should_fail(void)
{
    if (!atomic_load(&armed) || !on_test_thread())
        return false;
    long k = atomic_fetch_add(&n_alloc, 1) + 1;
    long at = atomic_load(&fail_at);
    if (k == at || (atomic_load(&persistent) && k > at)) {
        atomic_fetch_add(&n_failed, 1);
        return true;
    }
    return false;
}

static void *f_malloc(int n)
{
    return should_fail() ? NULL : real_mem.xMalloc(n);
}

static void *f_realloc(void *p, int n)
{
    return should_fail() ? NULL : real_mem.xRealloc(p, n);
}

static void f_free(void *p)
{
    real_mem.xFree(p);
}

static int f_size(void *p)
{
    return real_mem.xSize(p);
}

static int f_roundup(int n)
{
    return real_mem.xRoundup(n);
}

static int f_init(void *arg)
{
    (void)arg;
    return real_mem.xInit(real_mem.pAppData);
}

static void f_shutdown(void *arg)
{
    (void)arg;
    real_mem.xShutdown(real_mem.pAppData);
}

static void install_allocator(void)
{
    static sqlite3_mem_methods mine = {f_malloc,  f_free, f_realloc,  f_size,
                                       f_roundup, f_init, f_shutdown, NULL};
    assert_int_equal(sqlite3_shutdown(), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_MALLOC, &mine), SQLITE_OK);
    assert_int_equal(sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0), SQLITE_OK);
    assert_int_equal(sqlite3_initialize(), SQLITE_OK);
    test_thread = pthread_self();
}

static void arm(long n, bool persist)
{
    atomic_store(&n_alloc, 0);
    atomic_store(&n_failed, 0);
    atomic_store(&fail_at, n);
    atomic_store(&persistent, persist);
    atomic_store(&armed, true);
}

/* Disarms; returns whether any allocation was refused. */
static bool disarm(void)
{
    atomic_store(&armed, false);
    return atomic_load(&n_failed) > 0;
}

/* ---- counting syncs ------------------------------------------------- */

static atomic_long n_sync;

/* SQLite's unix VFS syncs with fdatasync(); this definition in the
 * executable comes first in the dynamic linker's search, so it sees every
 * call, counts it and makes the real system call. */
int fdatasync(int fd)
{
    if (on_test_thread())
        atomic_fetch_add(&n_sync, 1);
    return (int)syscall(SYS_fdatasync, fd);
}

/* ---- fixture -------------------------------------------------------- */

struct fx {
    char dir[256];
    char url[300];
    struct store *s;
    char acct[HERALD_ID_MAX];
    char wh[2][HERALD_ID_MAX];
    bool wh2_enabled;              /* the state webhook_update toggles */
    int64_t t;                     /* a clock that only moves forward */
    char (*events)[HERALD_ID_MAX]; /* every event ingested, for the full check */
    size_t n_events;
    char snap_a[SNAP_CAP], snap_b[SNAP_CAP];
};

#define OPS(f) ((f)->s->ops)

static int64_t tick(struct fx *f)
{
    return f->t += 10;
}

static void fill_webhook(struct store_webhook *w, const char *acct, const char *name, int64_t t)
{
    memset(w, 0, sizeof *w);
    id_new(w->id, "wh", t);
    snprintf(w->account_id, sizeof w->account_id, "%s", acct);
    w->name = (char *)name;
    w->description = "";
    w->url = "https://example.com/hook";
    snprintf(w->method, sizeof w->method, "POST");
    snprintf(w->content_type, sizeof w->content_type, "application/json");
    w->events = "[\"*\"]";
    w->headers = "{}";
    w->max_attempts = 4;
    w->max_in_flight = 8;
    w->enabled = true;
    snprintf(w->kind, sizeof w->kind, "webhook");
    snprintf(w->signature_scheme, sizeof w->signature_scheme, "standard");
    w->secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w->created_at = t;
    w->modified_at = t;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->events = calloc(MAX_EVENTS, sizeof *f->events);
    assert_non_null(f->events);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/herald-faults-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->url, sizeof f->url, "sqlite:%s/herald.db", f->dir);
    assert_int_equal(store_open(f->url, 4, &f->s), 0);
    f->t = T0;
    struct store_account a = {.created_at = f->t};
    id_new(a.id, "acct", f->t);
    snprintf(a.name, sizeof a.name, "acme");
    assert_int_equal(OPS(f)->account_create(f->s, &a), 0);
    memcpy(f->acct, a.id, sizeof f->acct);
    for (int i = 0; i < 2; i++) {
        struct store_webhook w;
        fill_webhook(&w, f->acct, i ? "two" : "one", tick(f));
        assert_int_equal(OPS(f)->webhook_create(f->s, &w), 0);
        memcpy(f->wh[i], w.id, sizeof f->wh[i]);
    }
    f->wh2_enabled = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    disarm();
    store_close(f->s);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->events);
    free(f);
    return 0;
}

/* ---- reading the whole state back ----------------------------------- */

struct snap {
    char *p;
    size_t len, cap;
};

static void put(struct snap *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct snap *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < s->cap - s->len);
    s->len += (size_t)n;
}

static void snap_webhook(struct fx *f, struct snap *s, const char *id)
{
    struct store_webhook w;
    assert_int_equal(OPS(f)->webhook_get(f->s, f->acct, id, &w), 0);
    put(s,
        "wh %s name=%s desc=%s events=%s enabled=%d max=%d mod=%lld last=%lld fail=%lld dis=%s\n",
        w.id, w.name, w.description, w.events, w.enabled, w.max_attempts, (long long)w.modified_at,
        (long long)w.last_execution_at, (long long)w.failing_since,
        w.disabled_reason ? w.disabled_reason : "-");
    store_webhook_release(&w);
    struct store_attempt_query q = {.webhook_id = id, .page = 0, .count = 1};
    struct store_attempt *a;
    size_t n;
    int64_t total;
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &q, &a, &n, &total), 0);
    put(s, "attempts %lld newest=%s\n", (long long)total, n ? a[0].id : "-");
    store_attempts_free(a, n);
}

/* An event's presence and its deliveries, as text. */
static void snap_event(struct fx *f, struct snap *s, const char *id)
{
    struct store_event e;
    int rc = OPS(f)->event_get(f->s, f->acct, id, &e);
    assert_true(rc == 0 || rc == HERALD_ENOTFOUND);
    if (rc != 0) {
        put(s, "evt %s absent\n", id);
        return;
    }
    put(s, "evt %s %s %.*s\n", e.id, e.type, (int)e.payload_len, e.payload);
    store_event_release(&e);
    struct store_delivery *d;
    size_t n;
    assert_int_equal(OPS(f)->delivery_list_for_event(f->s, f->acct, id, &d, &n), 0);
    for (size_t i = 0; i < n; i++)
        put(s, "  dlv %s %s %s attempts=%d next=%lld\n", d[i].id, d[i].webhook_id, d[i].status,
            d[i].attempts, (long long)d[i].next_attempt_at);
    free(d);
}

/* Everything an operation could have touched: the global counts, both
 * webhooks with their attempt logs, the next due time, and the events
 * named (those the operation works on). */
static const char *snapshot(struct fx *f, char *buf, char (*ids)[HERALD_ID_MAX], size_t n_ids)
{
    struct snap s = {buf, 0, SNAP_CAP};
    struct store_stats st;
    assert_int_equal(OPS(f)->stats(f->s, &st), 0);
    put(&s, "events=%lld pending=%lld in_flight=%lld succeeded=%lld failed=%lld attempts=%lld\n",
        (long long)st.events, (long long)st.pending, (long long)st.in_flight,
        (long long)st.succeeded, (long long)st.failed, (long long)st.attempts);
    int64_t due;
    assert_int_equal(OPS(f)->next_due(f->s, &due), 0);
    put(&s, "next_due=%lld\n", (long long)due);
    for (int i = 0; i < 2; i++)
        snap_webhook(f, &s, f->wh[i]);
    for (size_t i = 0; i < n_ids; i++)
        snap_event(f, &s, ids[i]);
    return buf;
}

/* The kept counts (stats) must equal the rows: every delivery belongs to
 * an event this test ingested. */
static void check_counts(struct fx *f)
{
    struct store_stats st;
    assert_int_equal(OPS(f)->stats(f->s, &st), 0);
    int64_t by[4] = {0};
    static const char *const names[4] = {"pending", "in_flight", "succeeded", "failed"};
    int64_t present = 0;
    for (size_t i = 0; i < f->n_events; i++) {
        struct store_delivery *d;
        size_t n;
        assert_int_equal(OPS(f)->delivery_list_for_event(f->s, f->acct, f->events[i], &d, &n), 0);
        for (size_t j = 0; j < n; j++)
            for (int k = 0; k < 4; k++)
                if (strcmp(d[j].status, names[k]) == 0)
                    by[k]++;
        free(d);
        struct store_event e;
        if (OPS(f)->event_get(f->s, f->acct, f->events[i], &e) == 0) {
            present++;
            store_event_release(&e);
        }
    }
    assert_int_equal(st.pending, by[0] + by[1]); /* store.h: pending includes in_flight */
    assert_int_equal(st.in_flight, by[1]);
    assert_int_equal(st.succeeded, by[2]);
    assert_int_equal(st.failed, by[3]);
    assert_int_equal(st.events, present);
}

/* ---- the operations ------------------------------------------------- */

/* One operation under test: prepare() sets up unfaulted, run() is what the
 * fault hits, verify() checks a success, after() cleans up. */
struct op {
    const char *name;
    void (*prepare)(struct fx *f, void *ctx);
    int (*run)(struct fx *f, void *ctx);
    void (*verify)(struct fx *f, void *ctx);
    void (*after)(struct fx *f, void *ctx, int rc);
    /* the events the snapshot must include */
    size_t (*ids)(void *ctx, char (**ids)[HERALD_ID_MAX]);
};

static void track(struct fx *f, const char *id)
{
    assert_true(f->n_events < MAX_EVENTS);
    memcpy(f->events[f->n_events++], id, HERALD_ID_MAX);
}

/* A plain ingest outside the fault, which must sync. */
static void ingest_plain(struct fx *f, int count)
{
    struct store_ingest it[8];
    assert_true(count <= 8);
    for (int i = 0; i < count; i++) {
        memset(&it[i], 0, sizeof it[i]);
        it[i].account_id = f->acct;
        it[i].type = "post.published";
        it[i].data = "{\"plain\":true}";
        it[i].data_len = strlen(it[i].data);
        it[i].created_at = tick(f);
        id_new(it[i].id, "evt", it[i].created_at);
    }
    long before = atomic_load(&n_sync);
    assert_int_equal(OPS(f)->ingest(f->s, it, (size_t)count), 0);
    if (atomic_load(&n_sync) == before)
        fail_msg("an ingest committed without fdatasync: a connection was left with "
                 "synchronous=OFF");
    for (int i = 0; i < count; i++)
        track(f, it[i].id);
}

/* -- ingest of a small batch -- */

struct ingest_ctx {
    struct store_ingest it[3];
    char data[3][48];
    char key[48];
    char ids[3][HERALD_ID_MAX];
};

static void ingest_prepare(struct fx *f, void *p)
{
    struct ingest_ctx *c = p;
    memset(c, 0, sizeof *c);
    for (int i = 0; i < 3; i++) {
        struct store_ingest *it = &c->it[i];
        it->account_id = f->acct;
        it->type = i == 2 ? "post.failed" : "post.published";
        it->created_at = tick(f);
        id_new(it->id, "evt", it->created_at);
        snprintf(c->data[i], sizeof c->data[i], "{\"i\":%d,\"t\":%lld}", i,
                 (long long)it->created_at);
        it->data = c->data[i];
        it->data_len = strlen(c->data[i]);
        memcpy(c->ids[i], it->id, HERALD_ID_MAX);
    }
    snprintf(c->key, sizeof c->key, "key-%lld", (long long)f->t);
    c->it[1].idempotency_key = c->key;
}

static int ingest_run(struct fx *f, void *p)
{
    struct ingest_ctx *c = p;
    return OPS(f)->ingest(f->s, c->it, 3);
}

static void ingest_verify(struct fx *f, void *p)
{
    struct ingest_ctx *c = p;
    for (int i = 0; i < 3; i++) {
        assert_false(c->it[i].duplicate);
        assert_int_equal(c->it[i].deliveries, 2);
        struct store_event e;
        assert_int_equal(OPS(f)->event_get(f->s, f->acct, c->ids[i], &e), 0);
        assert_int_equal(e.payload_len, strlen(c->data[i]));
        assert_memory_equal(e.payload, c->data[i], e.payload_len);
        store_event_release(&e);
        struct store_delivery *d;
        size_t n;
        assert_int_equal(OPS(f)->delivery_list_for_event(f->s, f->acct, c->ids[i], &d, &n), 0);
        assert_int_equal(n, f->wh2_enabled ? 2 : 1);
        free(d);
    }
}

static void ingest_after(struct fx *f, void *p, int rc)
{
    struct ingest_ctx *c = p;
    if (rc == 0) {
        for (int i = 0; i < 3; i++)
            track(f, c->ids[i]);
        return;
    }
    /* The producer retries the same batch (the API client after a 503). */
    assert_int_equal(OPS(f)->ingest(f->s, c->it, 3), 0);
    ingest_verify(f, p);
    for (int i = 0; i < 3; i++)
        track(f, c->ids[i]);
}

static size_t ingest_ids(void *p, char (**ids)[HERALD_ID_MAX])
{
    struct ingest_ctx *c = p;
    *ids = c->ids;
    return 3;
}

/* -- claim_due -- */

struct claim_ctx {
    struct store_claim *claims;
    size_t n;
    int64_t now;
    struct store_stats before;
};

static void claim_prepare(struct fx *f, void *p)
{
    struct claim_ctx *c = p;
    memset(c, 0, sizeof *c);
    struct store_stats st;
    assert_int_equal(OPS(f)->stats(f->s, &st), 0);
    if (st.pending - st.in_flight < 4)
        ingest_plain(f, 4);
    assert_int_equal(OPS(f)->stats(f->s, &c->before), 0);
    c->now = tick(f);
}

static int claim_run(struct fx *f, void *p)
{
    struct claim_ctx *c = p;
    c->claims = NULL;
    c->n = 0;
    return OPS(f)->claim_due(f->s, "faulty", c->now, FAR, 4, &c->claims, &c->n);
}

static void claim_verify(struct fx *f, void *p)
{
    struct claim_ctx *c = p;
    assert_int_equal(c->n, 4);
    struct store_stats st;
    assert_int_equal(OPS(f)->stats(f->s, &st), 0);
    assert_int_equal(st.in_flight, c->before.in_flight + 4);
    assert_int_equal(st.pending, c->before.pending);
    for (size_t i = 0; i < c->n; i++) {
        struct store_delivery d;
        assert_int_equal(OPS(f)->delivery_get(f->s, f->acct, c->claims[i].delivery_id, &d), 0);
        assert_string_equal(d.status, "in_flight");
        assert_true(c->claims[i].payload_len > 0);
        assert_non_null(c->claims[i].payload);
    }
}

static void claim_after(struct fx *f, void *p, int rc)
{
    struct claim_ctx *c = p;
    if (rc != 0) {
        assert_null(c->claims);
        assert_int_equal(c->n, 0);
        assert_int_equal(claim_run(f, p), 0);
        claim_verify(f, p);
    }
    store_claims_free(c->claims, c->n);
    c->claims = NULL;
}

static size_t no_ids(void *p, char (**ids)[HERALD_ID_MAX])
{
    (void)p;
    *ids = NULL;
    return 0;
}

/* -- record: a success, a retry and an emitted event in one call -- */

struct record_ctx {
    struct store_claim *claims;
    size_t n;
    struct store_result r[2];
    struct store_ingest emit;
    char ids[3][HERALD_ID_MAX]; /* the claims' events and the emitted one */
    int64_t retry_at;
};

static void record_prepare(struct fx *f, void *p)
{
    struct record_ctx *c = p;
    memset(c, 0, sizeof *c);
    ingest_plain(f, 1); /* two fresh deliveries, due now */
    int64_t now = tick(f);
    assert_int_equal(OPS(f)->claim_due(f->s, "faulty", now, FAR, 2, &c->claims, &c->n), 0);
    assert_int_equal(c->n, 2);
    c->retry_at = now + 5000;
    for (int i = 0; i < 2; i++) {
        const struct store_claim *k = &c->claims[i];
        struct store_result *r = &c->r[i];
        r->delivery_id = k->delivery_id;
        r->account_id = k->account_id;
        r->event_id = k->event_id;
        r->webhook_id = k->webhook_id;
        r->event_type = k->event_type;
        id_new(r->attempt_id, "att", now);
        r->n = k->attempts + 1;
        r->started_at = now;
        r->duration_ms = 12;
        r->response_code = i == 0 ? 200 : 503;
        r->error = i == 0 ? "" : "http";
        r->response_body = "ok";
        r->response_len = 2;
        r->request_headers = "{\"webhook-id\":\"x\"}";
        r->outcome = i == 0 ? STORE_SUCCEEDED : STORE_RETRY;
        r->next_attempt_at = c->retry_at;
        memcpy(c->ids[i], k->event_id, HERALD_ID_MAX);
    }
    struct store_ingest *e = &c->emit;
    e->account_id = f->acct;
    e->type = "delivery.exhausted";
    e->data = "{\"emitted\":true}";
    e->data_len = strlen(e->data);
    e->created_at = now;
    id_new(e->id, "evt", now);
    memcpy(c->ids[2], e->id, HERALD_ID_MAX);
}

static int record_run(struct fx *f, void *p)
{
    struct record_ctx *c = p;
    return OPS(f)->record(f->s, "faulty", c->r, 2, &c->emit, 1);
}

static void record_verify(struct fx *f, void *p)
{
    struct record_ctx *c = p;
    struct store_delivery d;
    assert_int_equal(OPS(f)->delivery_get(f->s, f->acct, c->r[0].delivery_id, &d), 0);
    assert_string_equal(d.status, "succeeded");
    assert_int_equal(d.attempts, c->r[0].n);
    assert_int_equal(OPS(f)->delivery_get(f->s, f->acct, c->r[1].delivery_id, &d), 0);
    assert_string_equal(d.status, "pending");
    assert_int_equal(d.attempts, c->r[1].n);
    assert_int_equal(d.next_attempt_at, c->retry_at);
    struct store_event e;
    assert_int_equal(OPS(f)->event_get(f->s, f->acct, c->emit.id, &e), 0);
    store_event_release(&e);
    for (int i = 0; i < 2; i++) {
        struct store_attempt_query q = {.delivery_id = c->r[i].delivery_id, .page = 0, .count = 10};
        struct store_attempt *a;
        size_t n;
        int64_t total;
        assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &q, &a, &n, &total), 0);
        assert_int_equal(total, c->r[i].n); /* one row per attempt made, this one included */
        bool found = false;
        for (size_t j = 0; j < n; j++)
            found |= strcmp(a[j].id, c->r[i].attempt_id) == 0;
        assert_true(found);
        store_attempts_free(a, n);
    }
}

static void record_after(struct fx *f, void *p, int rc)
{
    struct record_ctx *c = p;
    if (rc != 0) {
        /* The dispatcher's worker retries the same batch. */
        assert_int_equal(record_run(f, p), 0);
        record_verify(f, p);
    }
    track(f, c->emit.id);
    store_claims_free(c->claims, c->n);
    c->claims = NULL;
}

static size_t record_ids(void *p, char (**ids)[HERALD_ID_MAX])
{
    struct record_ctx *c = p;
    *ids = c->ids;
    return 3;
}

/* -- webhook_update: toggles enabled (parks or un-parks deliveries) and
 * changes every other mutable field -- */

struct update_ctx {
    struct store_webhook w;
    char name[64];
};

static void update_prepare(struct fx *f, void *p)
{
    struct update_ctx *c = p;
    assert_int_equal(OPS(f)->webhook_get(f->s, f->acct, f->wh[1], &c->w), 0);
    free(c->w.name);
    snprintf(c->name, sizeof c->name, "two-%lld", (long long)f->t);
    c->w.name = xstrdup(c->name);
    free(c->w.description);
    c->w.description = xstrdup("changed");
    free(c->w.events);
    c->w.events = xstrdup(f->wh2_enabled ? "[\"post.*\"]" : "[\"*\"]");
    c->w.max_attempts = c->w.max_attempts % 20 + 1;
    c->w.enabled = !f->wh2_enabled;
    c->w.modified_at = tick(f);
}

static int update_run(struct fx *f, void *p)
{
    struct update_ctx *c = p;
    return OPS(f)->webhook_update(f->s, &c->w);
}

static void update_verify(struct fx *f, void *p)
{
    struct update_ctx *c = p;
    struct store_webhook w;
    assert_int_equal(OPS(f)->webhook_get(f->s, f->acct, f->wh[1], &w), 0);
    assert_string_equal(w.name, c->name);
    assert_string_equal(w.description, "changed");
    assert_string_equal(w.events, c->w.events);
    assert_int_equal(w.max_attempts, c->w.max_attempts);
    assert_int_equal(w.enabled, c->w.enabled);
    assert_int_equal(w.modified_at, c->w.modified_at);
    store_webhook_release(&w);
}

static void update_after(struct fx *f, void *p, int rc)
{
    struct update_ctx *c = p;
    if (rc != 0) {
        assert_int_equal(update_run(f, p), 0);
        update_verify(f, p);
    }
    f->wh2_enabled = c->w.enabled;
    store_webhook_release(&c->w);
}

/* -- reads: paged lists run in a read transaction (a snapshot for the
 * page and its total); a failure must not leave it open on the pooled
 * connection, where it would pin an old snapshot and refuse every later
 * BEGIN -- */

struct reads_ctx {
    int64_t events_total, attempts_total, webhooks_total;
    size_t events_n;
    char first_event[HERALD_ID_MAX];
    struct reads_ctx *ref; /* what an unfaulted run read */
};

static int reads_do(struct fx *f, struct reads_ctx *c)
{
    struct store_event_query eq = {.page = 0, .count = 20};
    struct store_event *e = NULL;
    int rc = OPS(f)->event_list(f->s, f->acct, &eq, &e, &c->events_n, &c->events_total);
    if (rc != 0)
        return rc;
    snprintf(c->first_event, sizeof c->first_event, "%s", c->events_n ? e[0].id : "");
    store_events_free(e, c->events_n);
    struct store_attempt_query aq = {.webhook_id = f->wh[0], .page = 0, .count = 20};
    struct store_attempt *a = NULL;
    size_t n = 0;
    rc = OPS(f)->attempt_list(f->s, f->acct, &aq, &a, &n, &c->attempts_total);
    if (rc != 0)
        return rc;
    store_attempts_free(a, n);
    struct store_webhook_query wq = {.enabled = -1, .page = 0, .count = 20};
    struct store_webhook *w = NULL;
    rc = OPS(f)->webhook_list(f->s, f->acct, &wq, &w, &n, &c->webhooks_total);
    if (rc != 0)
        return rc;
    store_webhooks_free(w, n);
    return 0;
}

static void reads_prepare(struct fx *f, void *p)
{
    struct reads_ctx *c = p;
    memset(c->ref, 0, sizeof *c->ref);
    assert_int_equal(reads_do(f, c->ref), 0);
}

static int reads_run(struct fx *f, void *p)
{
    struct reads_ctx *c = p;
    struct reads_ctx *ref = c->ref;
    memset(c, 0, sizeof *c);
    c->ref = ref;
    return reads_do(f, c);
}

static void reads_verify(struct fx *f, void *p)
{
    (void)f;
    struct reads_ctx *c = p;
    assert_int_equal(c->events_total, c->ref->events_total);
    assert_int_equal(c->events_n, c->ref->events_n);
    assert_string_equal(c->first_event, c->ref->first_event);
    assert_int_equal(c->attempts_total, c->ref->attempts_total);
    assert_int_equal(c->webhooks_total, c->ref->webhooks_total);
}

static void reads_after(struct fx *f, void *p, int rc)
{
    if (rc != 0) {
        assert_int_equal(reads_run(f, p), 0);
        reads_verify(f, p);
    }
}

/* ---- the OOM loop --------------------------------------------------- */

static bool is_unavailable(int rc)
{
    return rc == HERALD_ENOMEM || rc == HERALD_ESTORE || rc == HERALD_EBUSY;
}

/* Runs op under the fault for N = 1, 2, … until an attempt reaches no
 * failing allocation; returns how many attempts failed. */
static long oom_loop(struct fx *f, const struct op *op, void *ctx, bool persist)
{
    long failures = 0;
    for (long n = 1;; n++) {
        if (n > MAX_N)
            fail_msg("%s: still failing at N=%ld", op->name, n);
        op->prepare(f, ctx);
        char(*ids)[HERALD_ID_MAX];
        size_t n_ids = op->ids(ctx, &ids);
        snapshot(f, f->snap_a, ids, n_ids);
        arm(n, persist);
        int rc = op->run(f, ctx);
        bool fired = disarm();
        if (!fired && rc != 0)
            fail_msg("%s: failed (%s) with no allocation refused, N=%ld", op->name,
                     herald_strerror(rc), n);
        if (rc == 0) {
            op->verify(f, ctx);
        } else {
            if (!is_unavailable(rc))
                fail_msg("%s: an allocation failure became '%s' (N=%ld, %s): the API would "
                         "answer it with a 4xx",
                         op->name, herald_strerror(rc), n, persist ? "persistent" : "transient");
            snapshot(f, f->snap_b, ids, n_ids);
            if (strcmp(f->snap_a, f->snap_b) != 0)
                fail_msg("%s: failed (%s) at N=%ld (%s) but changed the database:\n"
                         "before:\n%s\nafter:\n%s",
                         op->name, herald_strerror(rc), n, persist ? "persistent" : "transient",
                         f->snap_a, f->snap_b);
            failures++;
        }
        op->after(f, ctx, rc);
        ingest_plain(f, 1); /* the store still works, and still syncs */
        if (!fired)
            break;
    }
    check_counts(f);
    return failures;
}

static const struct op op_ingest = {"ingest",      ingest_prepare, ingest_run,
                                    ingest_verify, ingest_after,   ingest_ids};
static const struct op op_claim = {"claim_due",  claim_prepare, claim_run,
                                   claim_verify, claim_after,   no_ids};
static const struct op op_record = {"record",      record_prepare, record_run,
                                    record_verify, record_after,   record_ids};
static const struct op op_update = {"webhook_update", update_prepare, update_run,
                                    update_verify,    update_after,   no_ids};

static const struct op op_reads = {"reads",      reads_prepare, reads_run,
                                   reads_verify, reads_after,   no_ids};

static void run_op(void **state, const struct op *op, void *ctx)
{
    struct fx *f = *state;
    ingest_plain(f, 2);
    long transient = oom_loop(f, op, ctx, false);
    long persistent_failures = oom_loop(f, op, ctx, true);
    print_message("%s: %ld transient and %ld persistent allocation failures, each answered "
                  "cleanly\n",
                  op->name, transient, persistent_failures);
    assert_true(transient > 0); /* the fault really reached SQLite */
    assert_true(persistent_failures > 0);
}

static void test_ingest_oom(void **state)
{
    struct ingest_ctx c;
    run_op(state, &op_ingest, &c);
}

static void test_claim_oom(void **state)
{
    struct claim_ctx c;
    run_op(state, &op_claim, &c);
}

static void test_record_oom(void **state)
{
    struct record_ctx c;
    run_op(state, &op_record, &c);
}

static void test_webhook_update_oom(void **state)
{
    struct update_ctx c;
    run_op(state, &op_update, &c);
}

static void test_reads_oom(void **state)
{
    struct fx *f = *state;
    struct record_ctx r;
    record_prepare(f, &r); /* attempts to list */
    assert_int_equal(record_run(f, &r), 0);
    record_after(f, &r, 0);
    struct reads_ctx ref, c = {.ref = &ref};
    run_op(state, &op_reads, &c);
}

/* Opening (and creating the schema) under the fault either works or fails
 * cleanly, and a later open of the same file works. An open makes about
 * ten thousand allocations (a migration, a hundred prepared statements per
 * connection), so N takes every value up to 200, then grows by 2 % a step:
 * the full quadratic loop would take many minutes under ASan. */
static void test_open_oom(void **state)
{
    (void)state;
    char dir[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/herald-faults-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    char url[300];
    snprintf(url, sizeof url, "sqlite:%s/herald.db", dir);
    long failures = 0;
    for (long n = 1;; n = n < 200 ? n + 1 : n + n / 50) {
        if (n > MAX_N)
            fail_msg("open: still failing at N=%ld", n);
        struct store *s = (struct store *)1;
        arm(n, n % 2 == 0);
        int rc = store_open(url, 2, &s);
        bool fired = disarm();
        if (rc != 0) {
            assert_true(fired);
            assert_null(s);
            failures++;
        } else {
            store_close(s);
        }
        struct store *again;
        assert_int_equal(store_open(url, 2, &again), 0);
        int64_t accounts = -1;
        assert_int_equal(again->ops->account_count(again, &accounts), 0);
        assert_int_equal(accounts, 0);
        store_close(again);
        if (!fired)
            break;
    }
    print_message("open: %ld allocation failures, each answered cleanly\n", failures);
    assert_true(failures > 0);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    install_allocator();
    /* Every refused allocation logs a "sqlite statement failed" line;
     * thousands of them would bury the test's own output. */
    log_set_level((enum log_level)(LOG_ERROR + 1));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_oom),
        cmocka_unit_test_setup_teardown(test_ingest_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_update_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_oom, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
