/*
 * postgres.c — the PostgreSQL backend of the store (store.h), for several
 * herald nodes sharing one database.
 *
 * Shape:
 *  - A pool of libpq connections (postgres_conn.h) that reconnect with
 *    backoff; every statement of postgres_sql.h is prepared once per
 *    connection. Results come back in binary, so payloads and response
 *    bodies are bytes, never re-encoded.
 *  - Nodes share the work through claim_due: FOR UPDATE SKIP LOCKED over
 *    the partial due_at index, and a lease (lease_owner, lease_expires_at)
 *    that another node reclaims once it expires. record() only changes a
 *    delivery still leased to the recording node.
 *  - Batches are set-based: ingest and record send their rows as arrays
 *    and cost a fixed number of round trips however many rows they carry.
 *  - Writes that make deliveries due run pg_notify('herald_due') inside
 *    their transaction; every node LISTENs on a dedicated connection
 *    (notify_fd), so an idle node wakes when any node commits work.
 *
 * Semantics equal the SQLite backend's (sqlite.c) operation for operation,
 * including its documented choices (tests/unit/test_store.c runs against
 * both); comments say where a set-based statement replaces its per-row
 * loop. What only exists here, because several nodes write at once:
 *  - an idempotency key committed by another node between our lookup and
 *    our insert makes that item a duplicate, not a failed batch
 *    (ON CONFLICT DO NOTHING, then a second lookup);
 *  - keyed events are inserted in (account, key) order and record() locks
 *    its webhooks in id order before touching deliveries, so concurrent
 *    writers queue instead of deadlocking; a deadlock or serialization
 *    failure that still happens re-runs the transaction (pg_run);
 *  - migrations run under an advisory lock (postgres_schema.h).
 */
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/id.h"
#include "core/log.h"
#include "core/match.h"
#include "core/util.h"
#include "store/postgres_conn.h"
#include "store/postgres_schema.h"
#include "store/postgres_sql.h"
#include "store/store.h"

#define DAY_MS (24LL * 3600 * 1000)
#define LIST_COUNT_MAX 1000
/* record() wakes the other nodes for retries due within this window;
 * later ones are found by each dispatcher's own next_due. */
#define NOTIFY_SOON_MS 1000
#define LISTEN_BACKOFF_FIRST_MS 100
#define LISTEN_BACKOFF_MAX_MS 5000

enum ps {
#define X(name, sql) PS_##name,
    PG_STATEMENTS(X)
#undef X
        PS_COUNT
};

static const char *const ps_name[PS_COUNT] = {
#define X(name, sql) [PS_##name] = #name,
    PG_STATEMENTS(X)
#undef X
};

static const char *const ps_sql[PS_COUNT] = {
#define X(name, sql) [PS_##name] = sql,
    PG_STATEMENTS(X)
#undef X
};

struct pg {
    struct store base; /* base.impl points back here */
    struct pg_pool pool;
    /* The LISTEN connection; the dispatcher thread's alone (store.h). */
    PGconn *listen;
    int64_t listen_retry_at;
    int listen_backoff_ms;
    bool listened;              /* it was up once: a reconnect may have missed wake-ups */
    struct conn_counts *counts; /* one per pooled connection (pg_conn.user) */
};

static const struct store_ops postgres_ops;

static struct pg *PG(struct store *s)
{
    return s->impl;
}

static int run(struct pg_conn *c, enum ps st, const struct pg_params *p, PGresult **out)
{
    return pg_exec(c, ps_name[st], p, out);
}

/* ---- counts ----------------------------------------------------------- */

/*
 * stats reads the counts table (postgres_schema.h, migration 3) instead of
 * counting deliveries, events and attempts. Every write transaction runs
 * through pg_write, which zeroes the connection's deltas when a try
 * starts (a re-run never adds twice) and, when it succeeded, applies them
 * as its last statement (COUNTS_ADD): its row locks are all taken by then,
 * so a transaction holding a count row never waits for a delivery row.
 * Each statement that changes how many deliveries are in a status, or
 * inserts events or attempts, reports its exact effect with count_move or
 * count_add. claim_due applies its own move inside its one statement.
 */

/* Count names in bytewise order: the order of every upsert's rows. */
enum cnt {
    CNT_ATTEMPTS,
    CNT_EVENTS,
    CNT_FAILED,
    CNT_IN_FLIGHT,
    CNT_PENDING,
    CNT_SUCCEEDED,
    CNT__N
};
static const char *const cnt_names[CNT__N] = {"attempts",  "events",  "failed",
                                              "in_flight", "pending", "succeeded"};
/* Slots of the counts table connections spread over: more than a node's
 * largest pool (--db-pool, at most 256), so a node's connections never
 * share one, and enough that two nodes' ranges (from random starts) seldom
 * overlap; only the slots in use have rows, so a scrape stays small. */
#define COUNT_SLOTS 1024

struct conn_counts {
    int slot;
    int64_t delta[CNT__N];
};

static struct conn_counts *CC(struct pg_conn *c)
{
    return c->user;
}

static int cnt_index(const char *name)
{
    for (int i = 0; i < CNT__N; i++)
        if (strcmp(name, cnt_names[i]) == 0)
            return i;
    return -1;
}

static void count_add(struct pg_conn *c, int i, int64_t n)
{
    if (i >= 0)
        CC(c)->delta[i] += n;
}

/* n deliveries went from status `from` (-1: newly created) to `to`. */
static void count_move(struct pg_conn *c, int from, int to, int64_t n)
{
    count_add(c, from, -n);
    count_add(c, to, n);
}

static int counts_flush(struct pg_conn *c)
{
    struct conn_counts *cc = CC(c);
    struct pg_array names, deltas;
    pga_init(&names, PG_OID_TEXT);
    pga_init(&deltas, PG_OID_INT8);
    for (int i = 0; i < CNT__N; i++) {
        if (cc->delta[i] == 0)
            continue;
        pga_text(&names, cnt_names[i]);
        pga_i64(&deltas, cc->delta[i]);
    }
    int rc = pga_finish(&names);
    if (rc == 0)
        rc = pga_finish(&deltas);
    if (rc == 0 && names.n > 0) {
        struct pg_params p;
        pgp_init(&p);
        pgp_int(&p, cc->slot);
        pgp_array(&p, &names);
        pgp_array(&p, &deltas);
        rc = run(c, PS_COUNTS_ADD, &p, NULL);
    }
    pga_release(&names);
    pga_release(&deltas);
    return rc;
}

struct counted {
    pg_tx_fn fn;
    void *arg;
};

static int counted_tx(struct pg_conn *c, void *arg)
{
    struct counted *w = arg;
    memset(CC(c)->delta, 0, sizeof CC(c)->delta);
    int rc = w->fn(c, w->arg);
    if (rc == 0)
        rc = counts_flush(c);
    return rc;
}

/* Every write transaction: pg_run's, with the counts kept. */
static int pg_write(struct pg *g, pg_tx_fn fn, void *arg)
{
    struct counted w = {.fn = fn, .arg = arg};
    return pg_run(&g->pool, PG_TX_WRITE, counted_tx, &w);
}

/* page/count to LIMIT/OFFSET, refusing nonsense (as sqlite.c does). */
static int page_window(int page, int count, int64_t *limit, int64_t *offset)
{
    if (page < 0 || count < 1 || count > LIST_COUNT_MAX)
        return HERALD_EINVAL;
    *limit = count;
    *offset = (int64_t)page * count;
    return 0;
}

/* ---- one statement ---------------------------------------------------- */

/* The common case: one statement, its result kept for the caller. */
struct one {
    enum ps st;
    struct pg_params p;
    bool want_change; /* HERALD_ENOTFOUND when it changed no row */
    PGresult *res;
};

static int one_tx(struct pg_conn *c, void *arg)
{
    struct one *o = arg;
    PQclear(o->res);
    o->res = NULL;
    int rc = run(c, o->st, &o->p, &o->res);
    if (rc == 0 && o->want_change && pg_changes(o->res) == 0)
        rc = HERALD_ENOTFOUND;
    return rc;
}

/* Runs o; a read in autocommit, a write in its own transaction (so a lost
 * answer is never replayed). On success o->res holds the result. */
static int one_run(struct pg *g, struct one *o, bool write)
{
    o->res = NULL;
    int rc = write ? pg_write(g, one_tx, o) : pg_run(&g->pool, PG_TX_NONE, one_tx, o);
    if (rc != 0) {
        PQclear(o->res);
        o->res = NULL;
    }
    return rc;
}

typedef void (*row_fn)(const PGresult *r, int row, void *out);

/* Runs a read expected to return at most one row, read by fn. */
static int read_one(struct pg *g, struct one *o, row_fn fn, void *out)
{
    int rc = one_run(g, o, false);
    if (rc != 0)
        return rc;
    if (PQntuples(o->res) == 0)
        rc = HERALD_ENOTFOUND;
    else
        fn(o->res, 0, out);
    PQclear(o->res);
    return rc;
}

/* Runs a statement inside the caller's transaction; HERALD_ENOTFOUND when
 * it returns no row. */
static int exists(struct pg_conn *c, enum ps st, const struct pg_params *p)
{
    PGresult *r;
    int rc = run(c, st, p, &r);
    if (rc == 0 && PQntuples(r) == 0)
        rc = HERALD_ENOTFOUND;
    PQclear(r);
    return rc;
}

static int count_rows(struct pg_conn *c, enum ps st, const struct pg_params *p, int64_t *n)
{
    PGresult *r;
    *n = 0;
    int rc = run(c, st, p, &r);
    if (rc == 0 && PQntuples(r) > 0)
        *n = pgr_int(r, 0, 0);
    PQclear(r);
    return rc;
}

/* Wakes every node's dispatcher once this transaction commits. */
static int notify(struct pg_conn *c)
{
    return run(c, PS_NOTIFY, NULL, NULL);
}

/* ---- ping, accounts, keys --------------------------------------------- */

static int pg_ping(struct store *s)
{
    struct one o = {.st = PS_PING};
    pgp_init(&o.p);
    int rc = one_run(PG(s), &o, false);
    PQclear(o.res);
    return rc;
}

static int pg_account_create(struct store *s, const struct store_account *a)
{
    struct one o = {.st = PS_ACCOUNT_INSERT};
    pgp_init(&o.p);
    pgp_text(&o.p, a->id);
    pgp_text(&o.p, a->name);
    pgp_int(&o.p, a->created_at);
    int rc = one_run(PG(s), &o, true);
    PQclear(o.res);
    return rc;
}

static void read_account(const PGresult *r, int i, void *out)
{
    struct store_account *a = out;
    memset(a, 0, sizeof *a);
    pgr_copy(r, i, 0, a->id, sizeof a->id);
    pgr_copy(r, i, 1, a->name, sizeof a->name);
    a->created_at = pgr_int(r, i, 2);
}

static int pg_account_get(struct store *s, const char *id, struct store_account *out)
{
    struct one o = {.st = PS_ACCOUNT_GET};
    pgp_init(&o.p);
    pgp_text(&o.p, id);
    return read_one(PG(s), &o, read_account, out);
}

static int pg_account_count(struct store *s, int64_t *n)
{
    struct one o = {.st = PS_ACCOUNT_COUNT};
    pgp_init(&o.p);
    *n = 0;
    int rc = one_run(PG(s), &o, false);
    if (rc == 0 && PQntuples(o.res) > 0)
        *n = pgr_int(o.res, 0, 0);
    PQclear(o.res);
    return rc;
}

struct account_page {
    int64_t limit, offset;
    struct store_account *v;
    size_t n;
    int64_t total;
};

static int account_list_tx(struct pg_conn *c, void *arg)
{
    struct account_page *x = arg;
    free(x->v);
    x->v = NULL;
    x->n = 0;
    int rc = count_rows(c, PS_ACCOUNT_COUNT, NULL, &x->total);
    if (rc != 0)
        return rc;
    struct pg_params p;
    pgp_init(&p);
    pgp_int(&p, x->limit);
    pgp_int(&p, x->offset);
    PGresult *r;
    rc = run(c, PS_ACCOUNT_LIST, &p, &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    x->v = xcalloc((size_t)(rows ? rows : 1), sizeof *x->v);
    for (int i = 0; i < rows; i++)
        read_account(r, i, &x->v[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return 0;
}

static int pg_account_list(struct store *s, int page, int count, struct store_account **out,
                           size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    struct account_page x = {0};
    int rc = page_window(page, count, &x.limit, &x.offset);
    if (rc == 0)
        rc = pg_run(&PG(s)->pool, PG_TX_READ, account_list_tx, &x);
    if (rc != 0) {
        free(x.v);
        return rc;
    }
    *out = x.v;
    *n = x.n;
    *total = x.total;
    return 0;
}

static int pg_key_create(struct store *s, const struct store_key *k)
{
    struct one o = {.st = PS_KEY_INSERT};
    pgp_init(&o.p);
    pgp_text(&o.p, k->id);
    pgp_text(&o.p, k->account_id);
    pgp_text(&o.p, k->role);
    pgp_text(&o.p, k->hash);
    pgp_text(&o.p, k->prefix);
    pgp_int(&o.p, k->created_at);
    pgp_int(&o.p, k->revoked_at);
    int rc = one_run(PG(s), &o, true);
    PQclear(o.res);
    return rc;
}

static void read_key(const PGresult *r, int i, void *out)
{
    struct store_key *k = out;
    memset(k, 0, sizeof *k);
    pgr_copy(r, i, 0, k->id, sizeof k->id);
    pgr_copy(r, i, 1, k->account_id, sizeof k->account_id);
    pgr_copy(r, i, 2, k->role, sizeof k->role);
    pgr_copy(r, i, 3, k->hash, sizeof k->hash);
    pgr_copy(r, i, 4, k->prefix, sizeof k->prefix);
    k->created_at = pgr_int(r, i, 5);
    k->revoked_at = pgr_int(r, i, 6);
}

static int key_lookup(struct store *s, enum ps st, const char *arg, struct store_key *out)
{
    struct one o = {.st = st};
    pgp_init(&o.p);
    pgp_text(&o.p, arg);
    return read_one(PG(s), &o, read_key, out);
}

static int pg_key_find(struct store *s, const char *hash, struct store_key *out)
{
    return key_lookup(s, PS_KEY_FIND, hash, out);
}

static int pg_key_get(struct store *s, const char *id, struct store_key *out)
{
    return key_lookup(s, PS_KEY_GET, id, out);
}

struct key_revoke {
    const char *id;
    int64_t now;
};

/* Revoking twice is fine: the first revocation time is kept. */
static int key_revoke_tx(struct pg_conn *c, void *arg)
{
    struct key_revoke *x = arg;
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, x->id);
    pgp_int(&p, x->now);
    PGresult *r;
    int rc = run(c, PS_KEY_REVOKE, &p, &r);
    bool changed = rc == 0 && pg_changes(r) > 0;
    PQclear(r);
    if (rc != 0 || changed)
        return rc;
    pgp_init(&p);
    pgp_text(&p, x->id);
    return exists(c, PS_KEY_GET, &p);
}

static int pg_key_revoke(struct store *s, const char *id, int64_t now)
{
    struct key_revoke x = {.id = id, .now = now};
    return pg_write(PG(s), key_revoke_tx, &x);
}

/* ---- event types ------------------------------------------------------ */

static int pg_event_type_create(struct store *s, const struct store_event_type *t)
{
    struct one o = {.st = PS_ETYPE_INSERT};
    pgp_init(&o.p);
    pgp_text(&o.p, t->account_id);
    pgp_text(&o.p, t->name);
    pgp_text(&o.p, t->description ? t->description : "");
    pgp_text(&o.p, t->sample ? t->sample : "{}");
    pgp_int(&o.p, t->created_at);
    int rc = one_run(PG(s), &o, true);
    PQclear(o.res);
    return rc;
}

static void read_event_type(const PGresult *r, int i, void *out)
{
    struct store_event_type *t = out;
    memset(t, 0, sizeof *t);
    pgr_copy(r, i, 0, t->account_id, sizeof t->account_id);
    pgr_copy(r, i, 1, t->name, sizeof t->name);
    t->description = pgr_dup(r, i, 2);
    t->sample = pgr_dup(r, i, 3);
    t->created_at = pgr_int(r, i, 4);
}

static int pg_event_type_get(struct store *s, const char *account_id, const char *name,
                             struct store_event_type *out)
{
    struct one o = {.st = PS_ETYPE_GET};
    pgp_init(&o.p);
    pgp_text(&o.p, account_id);
    pgp_text(&o.p, name);
    return read_one(PG(s), &o, read_event_type, out);
}

static int pg_event_type_list(struct store *s, const char *account_id,
                              struct store_event_type **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct one o = {.st = PS_ETYPE_LIST};
    pgp_init(&o.p);
    pgp_text(&o.p, account_id);
    int rc = one_run(PG(s), &o, false);
    if (rc != 0)
        return rc;
    int rows = PQntuples(o.res);
    if (rows > 0) {
        struct store_event_type *v = xcalloc((size_t)rows, sizeof *v);
        for (int i = 0; i < rows; i++)
            read_event_type(o.res, i, &v[i]);
        *out = v;
        *n = (size_t)rows;
    }
    PQclear(o.res);
    return 0;
}

/* ---- webhooks --------------------------------------------------------- */

/* The 26 columns of PG_WH_COLS as $1..$26. */
static void params_webhook(struct pg_params *p, const struct store_webhook *w)
{
    pgp_init(p);
    pgp_text(p, w->id);
    pgp_text(p, w->account_id);
    pgp_text(p, w->name ? w->name : "");
    pgp_text(p, w->description ? w->description : "");
    pgp_text(p, w->url ? w->url : "");
    pgp_text(p, w->method);
    pgp_text(p, w->content_type);
    pgp_text(p, w->events ? w->events : "[]");
    pgp_text(p, w->headers ? w->headers : "{}");
    pgp_int(p, w->max_attempts);
    pgp_int(p, w->rate_limit);
    pgp_int(p, w->max_in_flight);
    pgp_bool(p, w->enabled);
    pgp_text(p, w->kind);
    pgp_text(p, w->signature_scheme);
    pgp_text(p, w->secret ? w->secret : "");
    pgp_text(p, w->prev_secret);
    pgp_int(p, w->prev_secret_expires_at);
    pgp_text(p, w->disabled_reason);
    pgp_int(p, w->created_at);
    pgp_int(p, w->modified_at);
    pgp_int(p, w->last_execution_at);
    pgp_int(p, w->failing_since);
    pgp_text(p, w->payload_format[0] ? w->payload_format : "standard");
    pgp_text(p, w->signature_header);
    pgp_text(p, w->timestamp_header);
}

static void read_webhook(const PGresult *r, int i, void *out)
{
    struct store_webhook *w = out;
    memset(w, 0, sizeof *w);
    pgr_copy(r, i, 0, w->id, sizeof w->id);
    pgr_copy(r, i, 1, w->account_id, sizeof w->account_id);
    w->name = pgr_dup(r, i, 2);
    w->description = pgr_dup(r, i, 3);
    w->url = pgr_dup(r, i, 4);
    pgr_copy(r, i, 5, w->method, sizeof w->method);
    pgr_copy(r, i, 6, w->content_type, sizeof w->content_type);
    w->events = pgr_dup(r, i, 7);
    w->headers = pgr_dup(r, i, 8);
    w->max_attempts = (int)pgr_int(r, i, 9);
    w->rate_limit = (int)pgr_int(r, i, 10);
    w->max_in_flight = (int)pgr_int(r, i, 11);
    w->enabled = pgr_int(r, i, 12) != 0;
    pgr_copy(r, i, 13, w->kind, sizeof w->kind);
    pgr_copy(r, i, 14, w->signature_scheme, sizeof w->signature_scheme);
    w->secret = pgr_dup(r, i, 15);
    w->prev_secret = pgr_dup_or_null(r, i, 16);
    w->prev_secret_expires_at = pgr_int(r, i, 17);
    w->disabled_reason = pgr_dup_or_null(r, i, 18);
    w->created_at = pgr_int(r, i, 19);
    w->modified_at = pgr_int(r, i, 20);
    w->last_execution_at = pgr_int(r, i, 21);
    w->failing_since = pgr_int(r, i, 22);
    pgr_copy(r, i, 23, w->payload_format, sizeof w->payload_format);
    pgr_copy(r, i, 24, w->signature_header, sizeof w->signature_header);
    pgr_copy(r, i, 25, w->timestamp_header, sizeof w->timestamp_header);
}

static int pg_webhook_create(struct store *s, const struct store_webhook *w)
{
    struct one o = {.st = PS_WH_INSERT};
    params_webhook(&o.p, w);
    int rc = one_run(PG(s), &o, true);
    PQclear(o.res);
    return rc;
}

static int pg_webhook_get(struct store *s, const char *account_id, const char *id,
                          struct store_webhook *out)
{
    struct one o = {.st = PS_WH_GET};
    pgp_init(&o.p);
    pgp_text(&o.p, id);
    pgp_text(&o.p, account_id);
    return read_one(PG(s), &o, read_webhook, out);
}

static int pg_webhook_get_any(struct store *s, const char *id, struct store_webhook *out)
{
    struct one o = {.st = PS_WH_GET_ANY};
    pgp_init(&o.p);
    pgp_text(&o.p, id);
    return read_one(PG(s), &o, read_webhook, out);
}

/* The six orders of seed 004, in the order of the WH_LIST_* statements. */
static const char *const webhook_orders[] = {
    "name", "description", "last_execution_at", "enabled", "created_at", "modified_at",
};

static int webhook_list_stmt(const struct store_webhook_query *qr, enum ps *out)
{
    size_t i = 4; /* created_at when no order is given */
    if (qr->order) {
        for (i = 0; i < ARRAY_SIZE(webhook_orders); i++)
            if (strcmp(qr->order, webhook_orders[i]) == 0)
                break;
        if (i == ARRAY_SIZE(webhook_orders))
            return HERALD_EINVAL;
    }
    *out = (enum ps)(PS_WH_LIST_NAME_ASC + 2 * (int)i + (qr->desc ? 1 : 0));
    return 0;
}

/* Every webhook passing the SQL filters comes back in order; the event
 * filter runs in C (subscriptions are JSON patterns), then the page is
 * cut, so total counts what the filter kept. An account has few
 * webhooks, which is what makes this whole-list read fine. */
static int pg_webhook_list(struct store *s, const char *account_id,
                           const struct store_webhook_query *qr, struct store_webhook **out,
                           size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    int64_t limit, offset;
    struct one o = {0};
    int rc = page_window(qr->page, qr->count, &limit, &offset);
    if (rc == 0)
        rc = webhook_list_stmt(qr, &o.st);
    if (rc != 0)
        return rc;
    pgp_init(&o.p);
    pgp_text(&o.p, account_id);
    pgp_text(&o.p, qr->name && *qr->name ? qr->name : NULL);
    pgp_int(&o.p, qr->enabled < 0 ? -1 : (qr->enabled ? 1 : 0));
    rc = one_run(PG(s), &o, false);
    if (rc != 0)
        return rc;
    struct store_webhook *v = xcalloc((size_t)limit, sizeof *v);
    size_t len = 0;
    int64_t seen = 0;
    for (int i = 0; i < PQntuples(o.res); i++) {
        if (qr->event && !match_event_json(pgr_str(o.res, i, 7), qr->event))
            continue;
        if (seen >= offset && (int64_t)len < limit)
            read_webhook(o.res, i, &v[len++]);
        seen++;
    }
    PQclear(o.res);
    *out = v;
    *n = len;
    *total = seen;
    return 0;
}

/* The stored enabled flag of the account's webhook, its row locked for
 * the rest of the transaction. */
static int webhook_enabled(struct pg_conn *c, const char *account_id, const char *id, bool *enabled)
{
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, id);
    pgp_text(&p, account_id);
    PGresult *r;
    int rc = run(c, PS_WH_ENABLED, &p, &r);
    if (rc == 0 && PQntuples(r) == 0)
        rc = HERALD_ENOTFOUND;
    if (rc == 0)
        *enabled = pgr_int(r, 0, 0) != 0;
    PQclear(r);
    return rc;
}

/* Parks the deliveries of the webhooks ids (a finished text array), so
 * claim_due never walks a disabled webhook's backlog. */
static int webhooks_park(struct pg_conn *c, const struct pg_array *ids)
{
    struct pg_params p;
    pgp_init(&p);
    pgp_array(&p, ids);
    return run(c, PS_DLV_PARK, &p, NULL);
}

static int webhook_park_one(struct pg_conn *c, const char *id)
{
    struct pg_array a;
    pga_init(&a, PG_OID_TEXT);
    pga_text(&a, id);
    int rc = pga_finish(&a);
    if (rc == 0)
        rc = webhooks_park(c, &a);
    pga_release(&a);
    return rc;
}

/* Un-parks them when the webhook is enabled again; they are due now or
 * soon, so the other nodes are woken. */
static int webhook_unpark(struct pg_conn *c, const char *id)
{
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, id);
    PGresult *r;
    int rc = run(c, PS_DLV_UNPARK, &p, &r);
    bool changed = rc == 0 && pg_changes(r) > 0;
    PQclear(r);
    if (rc == 0 && changed)
        rc = notify(c);
    return rc;
}

static int webhook_update_tx(struct pg_conn *c, void *arg)
{
    const struct store_webhook *w = arg;
    bool was_enabled;
    int rc = webhook_enabled(c, w->account_id, w->id, &was_enabled);
    if (rc != 0)
        return rc;
    struct pg_params p;
    params_webhook(&p, w);
    rc = run(c, PS_WH_UPDATE, &p, NULL);
    if (rc == 0 && was_enabled != w->enabled)
        rc = w->enabled ? webhook_unpark(c, w->id) : webhook_park_one(c, w->id);
    return rc;
}

static int pg_webhook_update(struct store *s, const struct store_webhook *w)
{
    return pg_write(PG(s), webhook_update_tx, (void *)w);
}

struct webhook_delete {
    const char *account_id, *id;
    int64_t now;
};

/* The webhook row goes first, then its deliveries: the lock order every
 * transaction here keeps (see WH_LOCK). */
static int webhook_delete_tx(struct pg_conn *c, void *arg)
{
    struct webhook_delete *x = arg;
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, x->id);
    pgp_text(&p, x->account_id);
    PGresult *r;
    int rc = run(c, PS_WH_DELETE, &p, &r);
    if (rc == 0 && pg_changes(r) == 0)
        rc = HERALD_ENOTFOUND;
    PQclear(r);
    if (rc != 0)
        return rc;
    pgp_init(&p);
    pgp_text(&p, x->id);
    pgp_int(&p, x->now);
    rc = run(c, PS_DLV_CANCEL, &p, &r);
    for (int k = 0; rc == 0 && k < PQntuples(r); k++)
        count_move(c, cnt_index(pgr_str(r, k, 0)), CNT_FAILED, pgr_int(r, k, 1));
    PQclear(r);
    return rc;
}

static int pg_webhook_delete(struct store *s, const char *account_id, const char *id, int64_t now)
{
    struct webhook_delete x = {.account_id = account_id, .id = id, .now = now};
    return pg_write(PG(s), webhook_delete_tx, &x);
}

/* ---- ingest ----------------------------------------------------------- */

/*
 * ingest runs in a fixed number of statements per batch:
 *   1. EVT_BY_KEYS: the stored events holding the batch's idempotency keys;
 *   2. EVT_CLEAR_KEYS: frees keys older than 24 h for their new owners;
 *   3. EVT_INSERT: the new events;
 *   4. WH_FANOUT / WH_TARGETS: the webhooks of every account involved;
 *   5. DLV_INSERT: every delivery;
 *   6. pg_notify when some delivery is due.
 * Items repeating a key inside the batch are answered from the first item
 * with that key, as SQLite's in-order loop would find it.
 */

enum item_kind {
    IT_NEW,  /* a new event */
    IT_DUP,  /* repeats a stored event (filled from it) */
    IT_COPY, /* repeats an earlier item of the batch (its leader) */
};

struct ingest_plan {
    struct store_ingest *items;
    size_t n;
    unsigned char *kind;
    size_t *leader;
    /* The order events are inserted in: keyed items sorted by (account,
     * key) first, then the others. Two nodes inserting the same keys thus
     * take their index locks in the same order and wait for each other
     * instead of deadlocking. */
    size_t *order;
    char (*saved_id)[HERALD_ID_MAX]; /* the caller's id and time, restored */
    int64_t *saved_at;               /* when a transaction is re-run */
    bool due;                        /* some delivery created is due */
};

static void plan_init(struct ingest_plan *pl, struct store_ingest *items, size_t n)
{
    pl->items = items;
    pl->n = n;
    pl->kind = xcalloc(n ? n : 1, sizeof *pl->kind);
    pl->leader = xcalloc(n ? n : 1, sizeof *pl->leader);
    pl->order = xcalloc(n ? n : 1, sizeof *pl->order);
    pl->saved_id = xcalloc(n ? n : 1, sizeof *pl->saved_id);
    pl->saved_at = xcalloc(n ? n : 1, sizeof *pl->saved_at);
    for (size_t i = 0; i < n; i++) {
        memcpy(pl->saved_id[i], items[i].id, HERALD_ID_MAX);
        pl->saved_at[i] = items[i].created_at;
    }
}

static void plan_release(struct ingest_plan *pl)
{
    free(pl->kind);
    free(pl->leader);
    free(pl->order);
    free(pl->saved_id);
    free(pl->saved_at);
}

/* Puts the items back as the caller gave them (a re-run starts afresh). */
static int plan_reset(struct ingest_plan *pl)
{
    pl->due = false;
    for (size_t i = 0; i < pl->n; i++) {
        struct store_ingest *it = &pl->items[i];
        memcpy(it->id, pl->saved_id[i], HERALD_ID_MAX);
        it->created_at = pl->saved_at[i];
        it->deliveries = 0;
        it->duplicate = false;
        it->first_delivery_id[0] = '\0';
        pl->kind[i] = IT_NEW;
        pl->leader[i] = i;
        if (!it->account_id || !it->type || !it->data)
            return HERALD_EINVAL;
        str_copy(it->out_type, sizeof it->out_type, it->type);
    }
    return 0;
}

/* Fills item i as a repeat of the stored event in row k of r (columns:
 * ord, id, type, created_at, deliveries). */
static void fill_dup(struct store_ingest *it, const PGresult *r, int k)
{
    pgr_copy(r, k, 1, it->id, sizeof it->id);
    pgr_copy(r, k, 2, it->out_type, sizeof it->out_type);
    it->created_at = pgr_int(r, k, 3);
    it->deliveries = (int)pgr_int(r, k, 4);
    it->duplicate = true;
}

static int cmp_key(const void *a, const void *b, void *arg)
{
    const struct store_ingest *items = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(items[i].account_id, items[j].account_id);
    if (c == 0)
        c = strcmp(items[i].idempotency_key, items[j].idempotency_key);
    if (c == 0)
        c = i < j ? -1 : i > j;
    return c;
}

static bool same_key(const struct store_ingest *a, const struct store_ingest *b)
{
    return strcmp(a->account_id, b->account_id) == 0 &&
           strcmp(a->idempotency_key, b->idempotency_key) == 0;
}

/* Looks the stored events up for the given leaders (item indexes) and
 * marks each found leader IT_DUP when its event is younger than 24 h.
 * Older holders' ids are appended to expired (when non-NULL). With
 * must_find, a leader whose key has no stored event is a transient
 * failure (see ingest_events). */
static int lookup_keys(struct pg_conn *c, struct ingest_plan *pl, const size_t *leaders, size_t n,
                       struct pg_array *expired, bool must_find)
{
    struct pg_array acct, key;
    pga_init(&acct, PG_OID_TEXT);
    pga_init(&key, PG_OID_BYTEA);
    for (size_t i = 0; i < n; i++) {
        const struct store_ingest *it = &pl->items[leaders[i]];
        pga_text(&acct, it->account_id);
        pga_bytes(&key, it->idempotency_key, strlen(it->idempotency_key));
    }
    PGresult *r = NULL;
    int rc = pga_finish(&acct);
    if (rc == 0)
        rc = pga_finish(&key);
    if (rc == 0) {
        struct pg_params p;
        pgp_init(&p);
        pgp_array(&p, &acct);
        pgp_array(&p, &key);
        rc = run(c, PS_EVT_BY_KEYS, &p, &r);
    }
    size_t found = 0;
    for (int k = 0; rc == 0 && k < PQntuples(r); k++) {
        int64_t ord = pgr_int(r, k, 0);
        if (ord < 1 || (size_t)ord > n)
            continue;
        found++;
        struct store_ingest *it = &pl->items[leaders[ord - 1]];
        if (it->created_at - pgr_int(r, k, 3) < DAY_MS) {
            pl->kind[leaders[ord - 1]] = IT_DUP;
            fill_dup(it, r, k);
        } else if (expired) {
            pga_text(expired, pgr_str(r, k, 1));
        }
    }
    if (rc == 0 && must_find && found < n) {
        /* The conflicting event vanished between two statements: it was
         * rolled back by its writer. Trying again will settle it. */
        c->retryable = true;
        rc = HERALD_EBUSY;
    }
    PQclear(r);
    pga_release(&acct);
    pga_release(&key);
    return rc;
}

/* Step 1 and 2: idempotency. Groups the keyed items by (account, key);
 * the first of each group is its leader, the others copy it. */
static int ingest_keys(struct pg_conn *c, struct ingest_plan *pl)
{
    size_t nk = 0, rest = pl->n;
    size_t *keyed = pl->order;
    for (size_t i = 0; i < pl->n; i++) {
        if (pl->items[i].idempotency_key)
            keyed[nk++] = i;
        else
            pl->order[--rest] = i;
    }
    if (nk == 0)
        return 0;
    qsort_r(keyed, nk, sizeof *keyed, cmp_key, pl->items);
    size_t *leaders = xcalloc(nk, sizeof *leaders);
    size_t nl = 0;
    for (size_t k = 0; k < nk; k++) {
        size_t i = keyed[k];
        if (k > 0 && same_key(&pl->items[i], &pl->items[leaders[nl - 1]])) {
            pl->kind[i] = IT_COPY;
            pl->leader[i] = leaders[nl - 1];
        } else {
            leaders[nl++] = i;
        }
    }
    struct pg_array expired;
    pga_init(&expired, PG_OID_TEXT);
    int rc = lookup_keys(c, pl, leaders, nl, &expired, false);
    if (rc == 0 && expired.n > 0 && (rc = pga_finish(&expired)) == 0) {
        struct pg_params p;
        pgp_init(&p);
        pgp_array(&p, &expired);
        rc = run(c, PS_EVT_CLEAR_KEYS, &p, NULL);
    }
    pga_release(&expired);
    free(leaders);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Items whose insert was skipped lost an idempotency race to another
 * node's commit: they become repeats of its event. */
static int ingest_race(struct pg_conn *c, struct ingest_plan *pl, const PGresult *r)
{
    int rows = PQntuples(r);
    const char **ids = xcalloc((size_t)(rows ? rows : 1), sizeof *ids);
    for (int k = 0; k < rows; k++)
        ids[k] = pgr_str(r, k, 0);
    qsort(ids, (size_t)rows, sizeof *ids, cmp_str);
    size_t *lost = xcalloc(pl->n, sizeof *lost);
    size_t nl = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const char *id = pl->items[i].id;
        if (pl->kind[i] == IT_NEW && !bsearch(&id, ids, (size_t)rows, sizeof *ids, cmp_str))
            lost[nl++] = i;
    }
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < nl; k++)
        if (!pl->items[lost[k]].idempotency_key)
            rc = HERALD_ESTORE; /* cannot happen: only a key can conflict */
    if (rc == 0 && nl > 0)
        rc = lookup_keys(c, pl, lost, nl, NULL, true);
    for (size_t k = 0; rc == 0 && k < nl; k++) {
        if (pl->kind[lost[k]] != IT_DUP) {
            /* A concurrent commit older than 24 h is impossible; be safe. */
            c->retryable = true;
            rc = HERALD_EBUSY;
        }
    }
    free(lost);
    free(ids);
    return rc;
}

/* Step 3: one INSERT for every new event. */
static int ingest_events(struct pg_conn *c, struct ingest_plan *pl)
{
    struct pg_array id, acct, type, payload, key, at;
    pga_init(&id, PG_OID_TEXT);
    pga_init(&acct, PG_OID_TEXT);
    pga_init(&type, PG_OID_TEXT);
    pga_init(&payload, PG_OID_BYTEA);
    pga_init(&key, PG_OID_BYTEA);
    pga_init(&at, PG_OID_INT8);
    for (size_t k = 0; k < pl->n; k++) {
        size_t i = pl->order[k];
        const struct store_ingest *it = &pl->items[i];
        if (pl->kind[i] != IT_NEW)
            continue;
        pga_text(&id, it->id);
        pga_text(&acct, it->account_id);
        pga_text(&type, it->type);
        pga_bytes(&payload, it->data, it->data_len);
        if (it->idempotency_key)
            pga_bytes(&key, it->idempotency_key, strlen(it->idempotency_key));
        else
            pga_null(&key);
        pga_i64(&at, it->created_at);
    }
    int rc = 0;
    PGresult *r = NULL;
    int32_t want = id.n;
    struct pg_array *all[] = {&id, &acct, &type, &payload, &key, &at};
    for (size_t k = 0; rc == 0 && k < ARRAY_SIZE(all); k++)
        rc = pga_finish(all[k]);
    if (rc == 0 && want > 0) {
        struct pg_params p;
        pgp_init(&p);
        for (size_t k = 0; k < ARRAY_SIZE(all); k++)
            pgp_array(&p, all[k]);
        rc = run(c, PS_EVT_INSERT, &p, &r);
        if (rc == 0)
            count_add(c, CNT_EVENTS, PQntuples(r)); /* skipped duplicates return no id */
        if (rc == 0 && PQntuples(r) != want)
            rc = ingest_race(c, pl, r);
    }
    PQclear(r);
    for (size_t k = 0; k < ARRAY_SIZE(all); k++)
        pga_release(all[k]);
    return rc;
}

/* An enabled webhook of an account, with its subscription parsed once. */
struct fan_hook {
    const char *account_id; /* borrowed from the result */
    const char *id;
    int max_attempts;
    struct event_patterns pat;
};

struct fan {
    PGresult *hooks_res;
    struct fan_hook *hooks; /* sorted by account (the query's order) */
    size_t n_hooks;
    PGresult *targets; /* the test-send targets: id, account_id, max_attempts, enabled */
};

static void fan_release(struct fan *f)
{
    for (size_t i = 0; i < f->n_hooks; i++) {
        event_patterns_release(&f->hooks[i].pat);
    }
    free(f->hooks);
    PQclear(f->hooks_res);
    PQclear(f->targets);
    memset(f, 0, sizeof *f);
}

/* Loads, in one statement each, the enabled webhooks of every account
 * with new events, and the targets of test sends. */
static int fan_load(struct pg_conn *c, struct ingest_plan *pl, struct fan *f)
{
    struct pg_array accts, targets;
    pga_init(&accts, PG_OID_TEXT);
    pga_init(&targets, PG_OID_TEXT);
    for (size_t i = 0; i < pl->n; i++) {
        const struct store_ingest *it = &pl->items[i];
        if (pl->kind[i] != IT_NEW)
            continue;
        if (it->only_webhook_id)
            pga_text(&targets, it->only_webhook_id);
        else
            pga_text(&accts, it->account_id);
    }
    int rc = pga_finish(&accts);
    if (rc == 0)
        rc = pga_finish(&targets);
    struct pg_params p;
    if (rc == 0 && accts.n > 0) {
        pgp_init(&p);
        pgp_array(&p, &accts);
        rc = run(c, PS_WH_FANOUT, &p, &f->hooks_res);
    }
    if (rc == 0 && targets.n > 0) {
        pgp_init(&p);
        pgp_array(&p, &targets);
        rc = run(c, PS_WH_TARGETS, &p, &f->targets);
    }
    pga_release(&accts);
    pga_release(&targets);
    if (rc != 0 || !f->hooks_res)
        return rc;
    int rows = PQntuples(f->hooks_res);
    f->hooks = xcalloc((size_t)(rows ? rows : 1), sizeof *f->hooks);
    for (int k = 0; k < rows; k++) {
        struct fan_hook *h = &f->hooks[f->n_hooks++];
        h->account_id = pgr_str(f->hooks_res, k, 0);
        h->id = pgr_str(f->hooks_res, k, 1);
        event_patterns_parse(&h->pat, pgr_str(f->hooks_res, k, 2));
        h->max_attempts = (int)pgr_int(f->hooks_res, k, 3);
    }
    return 0;
}

/* The first hook of the account (hooks are sorted by account, bytewise:
 * the column is COLLATE "C"), or n_hooks. */
static size_t fan_first(const struct fan *f, const char *account_id)
{
    size_t lo = 0, hi = f->n_hooks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(f->hooks[mid].account_id, account_id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct dlv_rows {
    struct pg_array id, evt, wh, acct, status, max, at, owner, lease, due;
    int64_t leased; /* rows born in_flight; the others are pending */
};

static void dlv_rows_init(struct dlv_rows *d)
{
    d->leased = 0;
    pga_init(&d->id, PG_OID_TEXT);
    pga_init(&d->evt, PG_OID_TEXT);
    pga_init(&d->wh, PG_OID_TEXT);
    pga_init(&d->acct, PG_OID_TEXT);
    pga_init(&d->status, PG_OID_TEXT);
    pga_init(&d->max, PG_OID_INT4);
    pga_init(&d->at, PG_OID_INT8);
    pga_init(&d->owner, PG_OID_TEXT);
    pga_init(&d->lease, PG_OID_INT8);
    pga_init(&d->due, PG_OID_INT8);
}

#define DLV_ARRAYS(d)                                                                              \
    {                                                                                              \
        &(d)->id, &(d)->evt, &(d)->wh, &(d)->acct, &(d)->status, &(d)->max, &(d)->at, &(d)->owner, \
            &(d)->lease, &(d)->due                                                                 \
    }

static void dlv_rows_release(struct dlv_rows *d)
{
    struct pg_array *all[] = DLV_ARRAYS(d);
    for (size_t k = 0; k < ARRAY_SIZE(all); k++)
        pga_release(all[k]);
}

/* Adds one delivery of item it to a webhook. A delivery to a disabled
 * webhook (only a test send can make one) starts parked. */
static void dlv_add(struct dlv_rows *d, struct ingest_plan *pl, struct store_ingest *it,
                    const char *webhook_id, int max_attempts, bool enabled)
{
    char id[HERALD_ID_MAX];
    id_new(id, "dlv", it->created_at);
    bool leased = it->lease_owner != NULL;
    pga_text(&d->id, id);
    pga_text(&d->evt, it->id);
    pga_text(&d->wh, webhook_id);
    pga_text(&d->acct, it->account_id);
    pga_text(&d->status, leased ? "in_flight" : "pending");
    d->leased += leased;
    pga_i32(&d->max, it->max_attempts > 0 ? it->max_attempts : max_attempts);
    pga_i64(&d->at, it->created_at);
    pga_text(&d->owner, it->lease_owner);
    pga_i64(&d->lease, leased ? it->lease_until : 0);
    if (enabled)
        pga_i64(&d->due, leased ? it->lease_until : it->created_at);
    else
        pga_null(&d->due);
    if (enabled && !leased)
        pl->due = true;
    if (it->deliveries++ == 0)
        str_copy(it->first_delivery_id, sizeof it->first_delivery_id, id);
}

/* The test-send path: one delivery to a named webhook of the account. */
static int fan_out_one(struct dlv_rows *d, struct ingest_plan *pl, const struct fan *f,
                       struct store_ingest *it)
{
    for (int k = 0; f->targets && k < PQntuples(f->targets); k++) {
        if (strcmp(pgr_str(f->targets, k, 0), it->only_webhook_id) != 0 ||
            strcmp(pgr_str(f->targets, k, 1), it->account_id) != 0)
            continue;
        dlv_add(d, pl, it, it->only_webhook_id, (int)pgr_int(f->targets, k, 2),
                pgr_int(f->targets, k, 3) != 0);
        return 0;
    }
    return HERALD_ENOTFOUND;
}

/* Steps 4 and 5: the fan-out of every new event, in one INSERT. */
static int ingest_fanout(struct pg_conn *c, struct ingest_plan *pl)
{
    struct fan f = {0};
    struct dlv_rows d;
    dlv_rows_init(&d);
    int rc = fan_load(c, pl, &f);
    for (size_t i = 0; rc == 0 && i < pl->n; i++) {
        struct store_ingest *it = &pl->items[i];
        if (pl->kind[i] != IT_NEW)
            continue;
        if (it->only_webhook_id) {
            rc = fan_out_one(&d, pl, &f, it);
            continue;
        }
        for (size_t k = fan_first(&f, it->account_id);
             k < f.n_hooks && strcmp(f.hooks[k].account_id, it->account_id) == 0; k++)
            if (event_patterns_match(&f.hooks[k].pat, it->type))
                dlv_add(&d, pl, it, f.hooks[k].id, f.hooks[k].max_attempts, true);
    }
    struct pg_array *all[] = DLV_ARRAYS(&d);
    for (size_t k = 0; rc == 0 && k < ARRAY_SIZE(all); k++)
        rc = pga_finish(all[k]);
    if (rc == 0 && d.id.n > 0) {
        struct pg_params p;
        pgp_init(&p);
        for (size_t k = 0; k < ARRAY_SIZE(all); k++)
            pgp_array(&p, all[k]);
        rc = run(c, PS_DLV_INSERT, &p, NULL);
    }
    if (rc == 0 && d.id.n > 0) {
        count_move(c, -1, CNT_IN_FLIGHT, d.leased);
        count_move(c, -1, CNT_PENDING, d.id.n - d.leased);
    }
    dlv_rows_release(&d);
    fan_release(&f);
    return rc;
}

/* Repeats inside the batch answer with their leader's event. */
static void ingest_copies(struct ingest_plan *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        if (pl->kind[i] != IT_COPY)
            continue;
        struct store_ingest *it = &pl->items[i];
        const struct store_ingest *first = &pl->items[pl->leader[i]];
        memcpy(it->id, first->id, HERALD_ID_MAX);
        str_copy(it->out_type, sizeof it->out_type, first->out_type);
        it->created_at = first->created_at;
        it->deliveries = first->deliveries;
        it->duplicate = true;
    }
}

/* The body of ingest and of record's emit[], inside the caller's
 * transaction. Sets pl->due when a delivery is due now. */
static int ingest_items(struct pg_conn *c, struct ingest_plan *pl)
{
    int rc = plan_reset(pl);
    if (rc == 0)
        rc = ingest_keys(c, pl);
    if (rc == 0)
        rc = ingest_events(c, pl);
    if (rc == 0)
        rc = ingest_fanout(c, pl);
    if (rc == 0)
        ingest_copies(pl);
    return rc;
}

static int ingest_tx(struct pg_conn *c, void *arg)
{
    struct ingest_plan *pl = arg;
    int rc = ingest_items(c, pl);
    if (rc == 0 && pl->due)
        rc = notify(c);
    return rc;
}

static int pg_ingest(struct store *s, struct store_ingest *items, size_t n)
{
    if (n == 0)
        return 0;
    struct ingest_plan pl;
    plan_init(&pl, items, n);
    int rc = pg_write(PG(s), ingest_tx, &pl);
    plan_release(&pl);
    return rc;
}

/* ---- events ----------------------------------------------------------- */

static int read_event(const PGresult *r, int i, struct store_event *e)
{
    memset(e, 0, sizeof *e);
    pgr_copy(r, i, 0, e->id, sizeof e->id);
    pgr_copy(r, i, 1, e->account_id, sizeof e->account_id);
    pgr_copy(r, i, 2, e->type, sizeof e->type);
    e->created_at = pgr_int(r, i, 5);
    int rc = pgr_bytes(r, i, 3, &e->payload, &e->payload_len);
    if (rc == 0 && !pgr_null(r, i, 4))
        rc = pgr_bytes(r, i, 4, &e->idempotency_key, NULL);
    return rc;
}

static int pg_event_get(struct store *s, const char *account_id, const char *id,
                        struct store_event *out)
{
    struct one o = {.st = PS_EVT_GET};
    pgp_init(&o.p);
    pgp_text(&o.p, id);
    pgp_text(&o.p, account_id);
    int rc = one_run(PG(s), &o, false);
    if (rc != 0)
        return rc;
    if (PQntuples(o.res) == 0)
        rc = HERALD_ENOTFOUND;
    else if ((rc = read_event(o.res, 0, out)) != 0)
        store_event_release(out);
    PQclear(o.res);
    return rc;
}

static void params_event_query(struct pg_params *p, const char *account_id,
                               const struct store_event_query *qr)
{
    pgp_init(p);
    pgp_text(p, account_id);
    pgp_text(p, qr->type);
    pgp_int(p, qr->since);
    pgp_int(p, qr->until);
}

struct event_page {
    const char *account_id;
    const struct store_event_query *qr;
    int64_t limit, offset;
    struct store_event *v;
    size_t n;
    int64_t total;
};

static int event_list_tx(struct pg_conn *c, void *arg)
{
    struct event_page *x = arg;
    store_events_free(x->v, x->n);
    x->v = NULL;
    x->n = 0;
    struct pg_params p;
    params_event_query(&p, x->account_id, x->qr);
    int rc = count_rows(c, PS_EVT_COUNT, &p, &x->total);
    if (rc != 0)
        return rc;
    pgp_int(&p, x->limit);
    pgp_int(&p, x->offset);
    PGresult *r;
    rc = run(c, PS_EVT_LIST, &p, &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    x->v = xcalloc((size_t)(rows ? rows : 1), sizeof *x->v);
    for (int i = 0; rc == 0 && i < rows; i++) {
        x->n++;
        rc = read_event(r, i, &x->v[i]);
    }
    PQclear(r);
    return rc;
}

static int pg_event_list(struct store *s, const char *account_id,
                         const struct store_event_query *qr, struct store_event **out, size_t *n,
                         int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    struct event_page x = {.account_id = account_id, .qr = qr};
    int rc = page_window(qr->page, qr->count, &x.limit, &x.offset);
    if (rc == 0)
        rc = pg_run(&PG(s)->pool, PG_TX_READ, event_list_tx, &x);
    if (rc != 0) {
        store_events_free(x.v, x.n);
        return rc;
    }
    *out = x.v;
    *n = x.n;
    *total = x.total;
    return 0;
}

/* ---- deliveries ------------------------------------------------------- */

static void read_delivery(const PGresult *r, int i, void *out)
{
    struct store_delivery *d = out;
    memset(d, 0, sizeof *d);
    pgr_copy(r, i, 0, d->id, sizeof d->id);
    pgr_copy(r, i, 1, d->event_id, sizeof d->event_id);
    pgr_copy(r, i, 2, d->webhook_id, sizeof d->webhook_id);
    pgr_copy(r, i, 3, d->account_id, sizeof d->account_id);
    pgr_copy(r, i, 4, d->status, sizeof d->status);
    d->attempts = (int)pgr_int(r, i, 5);
    d->max_attempts = (int)pgr_int(r, i, 6);
    d->next_attempt_at = pgr_int(r, i, 7);
    d->created_at = pgr_int(r, i, 8);
    d->updated_at = pgr_int(r, i, 9);
}

static int pg_delivery_get(struct store *s, const char *account_id, const char *id,
                           struct store_delivery *out)
{
    struct one o = {.st = PS_DLV_GET};
    pgp_init(&o.p);
    pgp_text(&o.p, id);
    pgp_text(&o.p, account_id);
    return read_one(PG(s), &o, read_delivery, out);
}

struct delivery_page {
    const char *account_id, *event_id;
    struct store_delivery *v;
    size_t n;
};

static int delivery_list_tx(struct pg_conn *c, void *arg)
{
    struct delivery_page *x = arg;
    free(x->v);
    x->v = NULL;
    x->n = 0;
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, x->event_id);
    pgp_text(&p, x->account_id);
    int rc = exists(c, PS_EVT_OWNED, &p);
    PGresult *r;
    if (rc == 0)
        rc = run(c, PS_DLV_LIST_EVENT, &p, &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    if (rows > 0) {
        x->v = xcalloc((size_t)rows, sizeof *x->v);
        for (int i = 0; i < rows; i++)
            read_delivery(r, i, &x->v[i]);
        x->n = (size_t)rows;
    }
    PQclear(r);
    return 0;
}

static int pg_delivery_list_for_event(struct store *s, const char *account_id, const char *event_id,
                                      struct store_delivery **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct delivery_page x = {.account_id = account_id, .event_id = event_id};
    int rc = pg_run(&PG(s)->pool, PG_TX_READ, delivery_list_tx, &x);
    if (rc != 0) {
        free(x.v);
        return rc;
    }
    *out = x.v;
    *n = x.n;
    return 0;
}

static int read_claim(const PGresult *r, int i, struct store_claim *k)
{
    memset(k, 0, sizeof *k);
    pgr_copy(r, i, 0, k->delivery_id, sizeof k->delivery_id);
    pgr_copy(r, i, 1, k->event_id, sizeof k->event_id);
    pgr_copy(r, i, 2, k->webhook_id, sizeof k->webhook_id);
    pgr_copy(r, i, 3, k->account_id, sizeof k->account_id);
    k->attempts = (int)pgr_int(r, i, 4);
    k->max_attempts = (int)pgr_int(r, i, 5);
    pgr_copy(r, i, 6, k->event_type, sizeof k->event_type);
    k->event_created_at = pgr_int(r, i, 7);
    k->webhook_modified_at = pgr_int(r, i, 9);
    return pgr_bytes(r, i, 8, &k->payload, &k->payload_len);
}

struct claim_args {
    struct pg_params p; /* the first four; the slot is the connection's */
    PGresult *res;
};

static int claim_tx(struct pg_conn *c, void *arg)
{
    struct claim_args *x = arg;
    PQclear(x->res);
    x->res = NULL;
    struct pg_params p = x->p;
    pgp_int(&p, CC(c)->slot);
    return run(c, PS_DLV_CLAIM, &p, &x->res);
}

/* claim_due is one statement (DLV_CLAIM), counts included, so it runs in
 * autocommit: one round trip. Should its answer be lost, the rows stay
 * leased to us until the lease expires and are then claimed again: late,
 * never lost. */
static int pg_claim_due(struct store *s, const char *owner, int64_t now, int64_t lease_until,
                        size_t max, struct store_claim **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (max == 0)
        return 0;
    struct claim_args o = {.res = NULL};
    pgp_init(&o.p);
    pgp_int(&o.p, now);
    pgp_int(&o.p, max > (size_t)INT64_MAX ? INT64_MAX : (int64_t)max);
    pgp_text(&o.p, owner);
    pgp_int(&o.p, lease_until);
    int rc = pg_run(&PG(s)->pool, PG_TX_NONE, claim_tx, &o);
    if (rc != 0) {
        PQclear(o.res);
        return rc;
    }
    int rows = PQntuples(o.res);
    struct store_claim *v = NULL;
    size_t len = 0;
    if (rows > 0) {
        v = xcalloc((size_t)rows, sizeof *v);
        for (int i = 0; rc == 0 && i < rows; i++) {
            len++;
            rc = read_claim(o.res, i, &v[i]);
            v[i].lease_until = lease_until;
        }
    }
    PQclear(o.res);
    if (rc != 0) {
        /* Out of memory for a payload: the leases expire and the rows are
         * claimed again later. */
        store_claims_free(v, len);
        return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* Exact, and index-only: parked deliveries have no due_at. */
static int pg_next_due(struct store *s, int64_t *at)
{
    *at = INT64_MAX;
    struct one o = {.st = PS_DLV_NEXT_DUE};
    pgp_init(&o.p);
    int rc = one_run(PG(s), &o, false);
    if (rc == 0 && PQntuples(o.res) > 0 && !pgr_null(o.res, 0, 0))
        *at = pgr_int(o.res, 0, 0);
    PQclear(o.res);
    return rc;
}

/* ---- record ----------------------------------------------------------- */

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

/* The arrays of one record() call, built once before the transaction (a
 * re-run sends the same ones). */
struct record_batch {
    const char *owner;
    const struct store_result *r;
    size_t n;
    struct ingest_plan emit;
    size_t n_emit;
    bool soon; /* a retry is due within NOTIFY_SOON_MS */
    struct pg_array att[14];
    struct pg_array dlv[6];
    struct pg_array wh[4];
    struct pg_array lock;     /* every webhook touched, for WH_LOCK */
    struct pg_array disabled; /* webhooks a result disables */
};

static const uint32_t att_oids[14] = {
    PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,  PG_OID_INT4, PG_OID_INT8,
    PG_OID_INT8, PG_OID_INT4, PG_OID_TEXT, PG_OID_BOOL, PG_OID_BYTEA, PG_OID_TEXT, PG_OID_TEXT,
};
static const uint32_t dlv_oids[6] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT4,
                                     PG_OID_INT8, PG_OID_INT8, PG_OID_TEXT};
static const uint32_t wh_oids[4] = {PG_OID_TEXT, PG_OID_INT8, PG_OID_BOOL, PG_OID_INT8};

static void batch_attempts(struct record_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct store_result *r = &b->r[i];
        struct pg_array *a = b->att;
        pga_text(&a[0], r->attempt_id);
        pga_text(&a[1], r->delivery_id);
        pga_text(&a[2], r->event_id);
        pga_text(&a[3], r->webhook_id);
        pga_text(&a[4], r->event_type ? r->event_type : "");
        pga_i32(&a[5], r->n);
        pga_i64(&a[6], r->started_at);
        pga_i64(&a[7], r->duration_ms);
        pga_i32(&a[8], r->response_code);
        pga_text(&a[9], r->error ? r->error : "");
        pga_bool(&a[10], r->outcome == STORE_SUCCEEDED);
        pga_bytes(&a[11], r->response_body, r->response_len);
        pga_text(&a[12], r->request_headers);
        pga_text(&a[13], r->account_id); /* NULL: the statement looks it up */
    }
}

static int cmp_by_delivery(const void *a, const void *b, void *arg)
{
    const struct store_result *r = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(r[i].delivery_id, r[j].delivery_id);
    return c ? c : (i < j ? -1 : i > j);
}

static int cmp_by_webhook(const void *a, const void *b, void *arg)
{
    const struct store_result *r = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(r[i].webhook_id, r[j].webhook_id);
    return c ? c : (i < j ? -1 : i > j);
}

/* One row per delivery: its first result, as the sequential SQLite loop
 * applies it (a second result finds the lease gone). */
static void batch_deliveries(struct record_batch *b, size_t *idx)
{
    for (size_t i = 0; i < b->n; i++)
        idx[i] = i;
    qsort_r(idx, b->n, sizeof *idx, cmp_by_delivery, (void *)b->r);
    int64_t soon = clock_now_ms() + NOTIFY_SOON_MS;
    for (size_t k = 0; k < b->n; k++) {
        const struct store_result *r = &b->r[idx[k]];
        if (k > 0 && strcmp(r->delivery_id, b->r[idx[k - 1]].delivery_id) == 0)
            continue;
        pga_text(&b->dlv[0], r->delivery_id);
        pga_text(&b->dlv[1], outcome_status(r->outcome));
        pga_i32(&b->dlv[2], r->n);
        pga_i64(&b->dlv[3], r->next_attempt_at);
        pga_i64(&b->dlv[4], r->started_at + r->duration_ms);
        pga_text(&b->dlv[5], b->owner);
        if (r->outcome == STORE_RETRY && r->next_attempt_at <= soon)
            b->soon = true;
    }
}

/* One row per webhook, folding its results in order (see WH_EXECUTED). */
static void batch_webhooks(struct record_batch *b, size_t *idx)
{
    for (size_t i = 0; i < b->n; i++)
        idx[i] = i;
    qsort_r(idx, b->n, sizeof *idx, cmp_by_webhook, (void *)b->r);
    for (size_t k = 0; k < b->n;) {
        const char *wh = b->r[idx[k]].webhook_id;
        int64_t last = 0, fail = 0;
        bool ok = false;
        for (; k < b->n && strcmp(b->r[idx[k]].webhook_id, wh) == 0; k++) {
            const struct store_result *r = &b->r[idx[k]];
            int64_t end = r->started_at + r->duration_ms;
            if (end > last)
                last = end;
            if (r->outcome == STORE_SUCCEEDED) {
                ok = true;
                fail = 0;
            } else if (fail == 0) {
                fail = r->started_at;
            }
        }
        pga_text(&b->wh[0], wh);
        pga_i64(&b->wh[1], last);
        pga_bool(&b->wh[2], ok);
        pga_i64(&b->wh[3], fail);
        pga_text(&b->lock, wh);
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->r[i].disable_reason)
            pga_text(&b->disabled, b->r[i].webhook_id);
}

static void batch_release(struct record_batch *b)
{
    for (size_t k = 0; k < ARRAY_SIZE(b->att); k++)
        pga_release(&b->att[k]);
    for (size_t k = 0; k < ARRAY_SIZE(b->dlv); k++)
        pga_release(&b->dlv[k]);
    for (size_t k = 0; k < ARRAY_SIZE(b->wh); k++)
        pga_release(&b->wh[k]);
    pga_release(&b->lock);
    pga_release(&b->disabled);
    plan_release(&b->emit);
}

static int batch_build(struct record_batch *b)
{
    for (size_t k = 0; k < ARRAY_SIZE(b->att); k++)
        pga_init(&b->att[k], att_oids[k]);
    for (size_t k = 0; k < ARRAY_SIZE(b->dlv); k++)
        pga_init(&b->dlv[k], dlv_oids[k]);
    for (size_t k = 0; k < ARRAY_SIZE(b->wh); k++)
        pga_init(&b->wh[k], wh_oids[k]);
    pga_init(&b->lock, PG_OID_TEXT);
    pga_init(&b->disabled, PG_OID_TEXT);
    batch_attempts(b);
    size_t *idx = xcalloc(b->n ? b->n : 1, sizeof *idx);
    batch_deliveries(b, idx);
    batch_webhooks(b, idx);
    free(idx);
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < ARRAY_SIZE(b->att); k++)
        rc = pga_finish(&b->att[k]);
    for (size_t k = 0; rc == 0 && k < ARRAY_SIZE(b->dlv); k++)
        rc = pga_finish(&b->dlv[k]);
    for (size_t k = 0; rc == 0 && k < ARRAY_SIZE(b->wh); k++)
        rc = pga_finish(&b->wh[k]);
    if (rc == 0)
        rc = pga_finish(&b->lock);
    if (rc == 0)
        rc = pga_finish(&b->disabled);
    return rc;
}

static int run_arrays(struct pg_conn *c, enum ps st, struct pg_array *a, size_t n, PGresult **out)
{
    struct pg_params p;
    pgp_init(&p);
    for (size_t k = 0; k < n; k++)
        pgp_array(&p, &a[k]);
    return run(c, st, &p, out);
}

/* Attempts: the rows actually inserted (a retried record's are there). */
static int record_attempts(struct pg_conn *c, struct record_batch *b)
{
    PGresult *r;
    int rc = run_arrays(c, PS_ATT_INSERT, b->att, ARRAY_SIZE(b->att), &r);
    if (rc == 0)
        count_add(c, CNT_ATTEMPTS, pg_changes(r));
    PQclear(r);
    return rc;
}

/* Results: each delivery updated (still leased to owner) leaves in_flight
 * for the status returned. */
static int record_results(struct pg_conn *c, struct record_batch *b)
{
    PGresult *r;
    int rc = run_arrays(c, PS_DLV_RESULT, b->dlv, ARRAY_SIZE(b->dlv), &r);
    for (int k = 0; rc == 0 && k < PQntuples(r); k++)
        count_move(c, CNT_IN_FLIGHT, cnt_index(pgr_str(r, k, 0)), 1);
    PQclear(r);
    return rc;
}

/* Disables, in the order the results came, as the sequential loop does
 * (reason and modified_at of the last one win), then parks them all. */
static int record_disables(struct pg_conn *c, struct record_batch *b)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const struct store_result *r = &b->r[i];
        if (!r->disable_reason)
            continue;
        struct pg_params p;
        pgp_init(&p);
        pgp_text(&p, r->webhook_id);
        pgp_text(&p, r->disable_reason);
        pgp_int(&p, r->started_at);
        rc = run(c, PS_WH_DISABLE, &p, NULL);
    }
    if (rc == 0 && b->disabled.n > 0)
        rc = webhooks_park(c, &b->disabled);
    return rc;
}

/* Webhooks are locked first, in id order (WH_LOCK); then attempts,
 * deliveries, webhooks, disables; then emit[] in the same transaction. */
static int record_tx(struct pg_conn *c, void *arg)
{
    struct record_batch *b = arg;
    int rc = 0;
    if (b->n > 0) {
        rc = run_arrays(c, PS_WH_LOCK, &b->lock, 1, NULL);
        if (rc == 0)
            rc = record_attempts(c, b);
        if (rc == 0)
            rc = record_results(c, b);
        if (rc == 0)
            rc = run_arrays(c, PS_WH_EXECUTED, b->wh, ARRAY_SIZE(b->wh), NULL);
        if (rc == 0)
            rc = record_disables(c, b);
    }
    if (rc == 0 && b->n_emit > 0)
        rc = ingest_items(c, &b->emit);
    if (rc == 0 && (b->soon || (b->n_emit > 0 && b->emit.due)))
        rc = notify(c);
    return rc;
}

static int pg_record(struct store *s, const char *owner, const struct store_result *r, size_t n,
                     struct store_ingest *emit, size_t n_emit)
{
    if (n == 0 && n_emit == 0)
        return 0;
    struct record_batch b = {.owner = owner, .r = r, .n = n, .n_emit = n_emit};
    plan_init(&b.emit, emit, n_emit);
    int rc = batch_build(&b);
    if (rc == 0)
        rc = pg_write(PG(s), record_tx, &b);
    batch_release(&b);
    return rc;
}

/* ---- release, retry, recover ------------------------------------------ */

struct requeue {
    const char *owner, *account_id, *id, *webhook_id;
    int64_t since, until, now;
    int64_t count;
};

static int release_tx(struct pg_conn *c, void *arg)
{
    struct requeue *x = arg;
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, x->owner);
    pgp_int(&p, x->now);
    PGresult *r;
    int rc = run(c, PS_DLV_RELEASE, &p, &r);
    bool changed = rc == 0 && pg_changes(r) > 0;
    if (changed)
        count_move(c, CNT_IN_FLIGHT, CNT_PENDING, pg_changes(r));
    PQclear(r);
    if (rc == 0 && changed)
        rc = notify(c);
    return rc;
}

struct deferrals {
    const char *owner;
    const struct store_deferral *d;
    size_t n;
    int64_t now;
};

static int defer_tx(struct pg_conn *c, void *arg)
{
    struct deferrals *x = arg;
    struct pg_array ids, until, lease, owners;
    pga_init(&ids, PG_OID_TEXT);
    pga_init(&until, PG_OID_INT8);
    pga_init(&lease, PG_OID_INT8);
    pga_init(&owners, PG_OID_TEXT);
    for (size_t i = 0; i < x->n; i++) {
        pga_text(&ids, x->d[i].delivery_id);
        pga_i64(&until, x->d[i].until);
        pga_i64(&lease, x->d[i].lease_until);
        pga_text(&owners, x->owner);
    }
    int rc = pga_finish(&ids);
    if (rc == 0)
        rc = pga_finish(&until);
    if (rc == 0)
        rc = pga_finish(&lease);
    if (rc == 0)
        rc = pga_finish(&owners);
    if (rc == 0) {
        struct pg_params p;
        pgp_init(&p);
        pgp_int(&p, x->now);
        pgp_array(&p, &ids);
        pgp_array(&p, &until);
        pgp_array(&p, &lease);
        pgp_array(&p, &owners);
        PGresult *r;
        rc = run(c, PS_DLV_DEFER, &p, &r);
        if (rc == 0)
            count_move(c, CNT_IN_FLIGHT, CNT_PENDING, pg_changes(r));
        PQclear(r);
    }
    pga_release(&ids);
    pga_release(&until);
    pga_release(&lease);
    pga_release(&owners);
    return rc;
}

/* One statement for the whole set, whatever its size. No NOTIFY: the rows
 * are due later, and next_due finds them. */
static int pg_defer(struct store *s, const char *owner, const struct store_deferral *d, size_t n,
                    int64_t now)
{
    if (n == 0)
        return 0;
    struct deferrals x = {.owner = owner, .d = d, .n = n, .now = now};
    return pg_write(PG(s), defer_tx, &x);
}

static int pg_release(struct store *s, const char *owner, int64_t now)
{
    struct requeue x = {.owner = owner, .now = now};
    return pg_write(PG(s), release_tx, &x);
}

static int delivery_retry_tx(struct pg_conn *c, void *arg)
{
    struct requeue *x = arg;
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, x->id);
    pgp_text(&p, x->account_id);
    PGresult *r;
    int rc = run(c, PS_DLV_STATE, &p, &r);
    if (rc == 0 && PQntuples(r) == 0)
        rc = HERALD_ENOTFOUND;
    if (rc == 0 && pgr_int(r, 0, 2) == 0)
        rc = HERALD_ENOTFOUND; /* a deleted webhook's delivery could only wait forever */
    else if (rc == 0 && strcmp(pgr_str(r, 0, 0), "in_flight") == 0 && pgr_int(r, 0, 1) > x->now)
        rc = HERALD_ECONFLICT;
    int from = rc == 0 ? cnt_index(pgr_str(r, 0, 0)) : -1; /* the row is locked: current */
    PQclear(r);
    if (rc != 0)
        return rc;
    pgp_init(&p);
    pgp_text(&p, x->id);
    pgp_int(&p, x->now);
    rc = run(c, PS_DLV_REQUEUE, &p, &r);
    if (rc == 0)
        count_move(c, from, CNT_PENDING, pg_changes(r));
    PQclear(r);
    if (rc == 0)
        rc = notify(c);
    return rc;
}

static int pg_delivery_retry(struct store *s, const char *account_id, const char *id, int64_t now)
{
    struct requeue x = {.account_id = account_id, .id = id, .now = now};
    return pg_write(PG(s), delivery_retry_tx, &x);
}

static int recover_tx(struct pg_conn *c, void *arg)
{
    struct requeue *x = arg;
    x->count = 0;
    bool enabled;
    int rc = webhook_enabled(c, x->account_id, x->webhook_id, &enabled);
    if (rc != 0)
        return rc;
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, x->webhook_id);
    pgp_int(&p, x->now);
    pgp_text(&p, x->account_id);
    pgp_int(&p, x->since);
    pgp_int(&p, x->until > 0 ? x->until : INT64_MAX);
    PGresult *r;
    rc = run(c, PS_DLV_RECOVER, &p, &r);
    if (rc == 0) {
        x->count = pg_changes(r);
        count_move(c, CNT_FAILED, CNT_PENDING, x->count);
    }
    PQclear(r);
    if (rc == 0 && x->count > 0 && enabled)
        rc = notify(c);
    return rc;
}

static int pg_recover(struct store *s, const char *account_id, const char *webhook_id,
                      int64_t since, int64_t until, int64_t now, int64_t *count)
{
    struct requeue x = {.account_id = account_id,
                        .webhook_id = webhook_id,
                        .since = since,
                        .until = until,
                        .now = now};
    int rc = pg_write(PG(s), recover_tx, &x);
    *count = rc == 0 ? x.count : 0;
    return rc;
}

/* ---- attempts --------------------------------------------------------- */

static int read_attempt(const PGresult *r, int i, struct store_attempt *a)
{
    memset(a, 0, sizeof *a);
    pgr_copy(r, i, 0, a->id, sizeof a->id);
    pgr_copy(r, i, 1, a->delivery_id, sizeof a->delivery_id);
    pgr_copy(r, i, 2, a->event_id, sizeof a->event_id);
    pgr_copy(r, i, 3, a->webhook_id, sizeof a->webhook_id);
    pgr_copy(r, i, 4, a->event_type, sizeof a->event_type);
    a->n = (int)pgr_int(r, i, 5);
    a->started_at = pgr_int(r, i, 6);
    a->duration_ms = pgr_int(r, i, 7);
    a->response_code = (int)pgr_int(r, i, 8);
    pgr_copy(r, i, 9, a->error, sizeof a->error);
    a->request_headers = xstrdup(pgr_null(r, i, 11) ? "{}" : pgr_str(r, i, 11));
    a->event_created_at = pgr_int(r, i, 13);
    int rc = pgr_bytes(r, i, 10, &a->response_body, NULL);
    if (rc == 0)
        rc = pgr_bytes(r, i, 12, &a->payload, NULL);
    return rc;
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

struct attempt_page {
    const char *account_id;
    const struct store_attempt_query *qr;
    int64_t limit, offset;
    struct store_attempt *v;
    size_t n;
    int64_t total;
};

/* Each of webhook, delivery and event, when given, must be the account's:
 * another account's id is a 404, not an empty log. */
static int attempt_scope(struct pg_conn *c, const char *account_id,
                         const struct store_attempt_query *qr)
{
    const char *ids[3] = {qr->webhook_id, qr->delivery_id, qr->event_id};
    const enum ps st[3] = {PS_WH_OWNED, PS_DLV_OWNED, PS_EVT_OWNED};
    int rc = 0;
    for (int k = 0; rc == 0 && k < 3; k++) {
        if (!ids[k])
            continue;
        struct pg_params p;
        pgp_init(&p);
        pgp_text(&p, ids[k]);
        pgp_text(&p, account_id);
        rc = exists(c, st[k], &p);
    }
    return rc;
}

static int attempt_list_tx(struct pg_conn *c, void *arg)
{
    struct attempt_page *x = arg;
    const struct store_attempt_query *qr = x->qr;
    store_attempts_free(x->v, x->n);
    x->v = NULL;
    x->n = 0;
    int rc = attempt_scope(c, x->account_id, qr);
    if (rc != 0)
        return rc;
    struct pg_params p;
    pgp_init(&p);
    pgp_text(&p, qr->webhook_id);
    pgp_text(&p, qr->delivery_id);
    pgp_text(&p, qr->event_id);
    pgp_int(&p, qr->status == 1 || qr->status == 2 ? qr->status : 0);
    pgp_text(&p, qr->event_type);
    pgp_int(&p, qr->since);
    pgp_int(&p, qr->until);
    pgp_text(&p, x->account_id);
    pgp_int(&p, x->limit);
    pgp_int(&p, x->offset);
    int lead = attempt_lead(qr);
    rc = count_rows(c, (enum ps)(PS_ATT_COUNT_WEBHOOK + lead), &p, &x->total);
    PGresult *r;
    if (rc == 0)
        rc = run(c, (enum ps)(PS_ATT_LIST_WEBHOOK + lead), &p, &r);
    if (rc != 0)
        return rc;
    int rows = PQntuples(r);
    x->v = xcalloc((size_t)(rows ? rows : 1), sizeof *x->v);
    for (int i = 0; rc == 0 && i < rows; i++) {
        x->n++;
        rc = read_attempt(r, i, &x->v[i]);
    }
    PQclear(r);
    return rc;
}

static int pg_attempt_list(struct store *s, const char *account_id,
                           const struct store_attempt_query *qr, struct store_attempt **out,
                           size_t *n, int64_t *total)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    struct attempt_page x = {.account_id = account_id, .qr = qr};
    int rc = page_window(qr->page, qr->count, &x.limit, &x.offset);
    if (rc == 0)
        rc = pg_run(&PG(s)->pool, PG_TX_READ, attempt_list_tx, &x);
    if (rc != 0) {
        store_attempts_free(x.v, x.n);
        return rc;
    }
    *out = x.v;
    *n = x.n;
    *total = x.total;
    return 0;
}

/* Walks the account's attempts since `since` on attempts_account; an
 * attempt counts as succeeded as in attempt_list. */
static int pg_attempt_series(struct store *s, const char *account_id, int64_t since,
                             int64_t bucket_ms, struct store_bucket **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (bucket_ms <= 0)
        return HERALD_EINVAL;
    struct one o = {.st = PS_ATT_SERIES};
    pgp_init(&o.p);
    pgp_text(&o.p, account_id);
    pgp_int(&o.p, since);
    pgp_int(&o.p, bucket_ms);
    int rc = one_run(PG(s), &o, false);
    if (rc != 0)
        return rc;
    int rows = PQntuples(o.res);
    if (rows > 0) {
        struct store_bucket *v = xcalloc((size_t)rows, sizeof *v);
        for (int i = 0; i < rows; i++)
            v[i] = (struct store_bucket){
                .start = pgr_int(o.res, i, 0),
                .attempts = pgr_int(o.res, i, 1),
                .succeeded = pgr_int(o.res, i, 2),
                .total_ms = pgr_int(o.res, i, 3),
                .max_ms = pgr_int(o.res, i, 4),
            };
        *out = v;
        *n = (size_t)rows;
    }
    PQclear(o.res);
    return 0;
}

/* ---- stats ------------------------------------------------------------ */

static int stats_tx(struct pg_conn *c, void *arg)
{
    struct store_stats *out = arg;
    memset(out, 0, sizeof *out);
    PGresult *r;
    int rc = run(c, PS_STATS, NULL, &r);
    if (rc != 0)
        return rc;
    int64_t *figure[CNT__N] = {
        [CNT_ATTEMPTS] = &out->attempts, [CNT_EVENTS] = &out->events,
        [CNT_FAILED] = &out->failed,     [CNT_IN_FLIGHT] = &out->in_flight,
        [CNT_PENDING] = &out->pending,   [CNT_SUCCEEDED] = &out->succeeded,
    };
    for (int i = 0; i < PQntuples(r); i++) {
        int k = cnt_index(pgr_str(r, i, 0));
        if (k >= 0)
            *figure[k] += pgr_int(r, i, 1);
    }
    PQclear(r);
    out->pending += out->in_flight; /* store.h: pending includes in_flight */
    return 0;
}

/* One statement over the counts table (see count_move): O(1) in the
 * sizes of the tables it counts, so every /metrics scrape can afford it. */
static int pg_stats(struct store *s, struct store_stats *out)
{
    int rc = pg_run(&PG(s)->pool, PG_TX_NONE, stats_tx, out);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

/* ---- LISTEN/NOTIFY ---------------------------------------------------- */

static void listen_drop(struct pg *g)
{
    if (g->listen)
        PQfinish(g->listen);
    g->listen = NULL;
}

static void listen_backoff(struct pg *g)
{
    g->listen_backoff_ms =
        g->listen_backoff_ms ? g->listen_backoff_ms * 2 : LISTEN_BACKOFF_FIRST_MS;
    if (g->listen_backoff_ms > LISTEN_BACKOFF_MAX_MS)
        g->listen_backoff_ms = LISTEN_BACKOFF_MAX_MS;
    g->listen_retry_at = clock_mono_ms() + g->listen_backoff_ms;
}

static int listen_connect(struct pg *g)
{
    PGconn *pq = pg_connect(g->pool.url);
    if (!pq)
        return HERALD_EBUSY;
    PGresult *r = PQexec(pq, "LISTEN herald_due");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(pq);
        return HERALD_EBUSY;
    }
    g->listen = pq;
    return 0;
}

/* Notifications sent while we were not listening are lost; after a
 * reconnect, one sent now (it reaches us too) makes the dispatcher look. */
static int wake_all_tx(struct pg_conn *c, void *arg)
{
    (void)arg;
    return notify(c);
}

static int pg_notify_fd(struct store *s)
{
    struct pg *g = PG(s);
    if (g->listen && PQstatus(g->listen) == CONNECTION_OK)
        return PQsocket(g->listen);
    listen_drop(g);
    if (clock_mono_ms() < g->listen_retry_at)
        return -1;
    if (listen_connect(g) != 0) {
        listen_backoff(g);
        return -1;
    }
    g->listen_backoff_ms = 0;
    if (g->listened)
        pg_run(&g->pool, PG_TX_NONE, wake_all_tx, NULL);
    g->listened = true;
    return PQsocket(g->listen);
}

static bool fd_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return fd >= 0 && poll(&pfd, 1, 0) > 0;
}

/* Reads until the socket is drained. A server going away sends a FATAL
 * message and then closes; the close is seen only by a second read, and
 * the caller should learn now that it must stop polling this socket. */
static void pg_notify_consume(struct store *s)
{
    struct pg *g = PG(s);
    for (int round = 0; g->listen && round < 8; round++) {
        if (!PQconsumeInput(g->listen) || PQstatus(g->listen) != CONNECTION_OK) {
            /* The server went away; notify_fd reconnects on its next call. */
            listen_drop(g);
            return;
        }
        PGnotify *n;
        while ((n = PQnotifies(g->listen)) != NULL)
            PQfreemem(n);
        if (!fd_readable(PQsocket(g->listen)))
            return;
    }
}

/* ---- open and close --------------------------------------------------- */

static void pg_close(struct store *s)
{
    struct pg *g = PG(s);
    listen_drop(g);
    pg_pool_release(&g->pool);
    free(g->counts);
    free(g);
}

/* Prepares every statement on a new connection; also the pool's setup. */
static int conn_setup(PGconn *pq, void *arg)
{
    (void)arg;
    /* JIT compiling costs tens of milliseconds on big scans (the lists'
     * totals) and buys nothing for these short statements. Custom plans: every
     * execution is planned with its parameters, so "($1 IS NULL OR …)"
     * filters fold away and LIMIT $n is known; parsing is still saved. */
    PGresult *r = PQexec(pq, "SET jit = off; SET plan_cache_mode = force_custom_plan");
    PQclear(r);
    for (int i = 0; i < PS_COUNT; i++) {
        r = PQprepare(pq, ps_name[i], ps_sql[i], 0, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            char line[512];
            str_copy(line, sizeof line, PQresultErrorMessage(r));
            line[strcspn(line, "\n")] = '\0';
            log_kv(LOG_ERROR, "cannot prepare a statement", "statement", ps_name[i], "error", line,
                   NULL);
        }
        PQclear(r);
        if (!ok)
            return PQstatus(pq) == CONNECTION_OK ? HERALD_ESTORE : HERALD_EBUSY;
    }
    return 0;
}

static int migrate_step(struct pg_conn *c, int64_t v)
{
    int rc = pg_exec_sql(c, "BEGIN");
    if (rc == 0)
        rc = pg_exec_sql(c, pg_migrations[v]);
    if (rc == 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %lld", (long long)v + 1);
        rc = pg_exec_sql(c, sql);
    }
    if (rc == 0)
        rc = pg_exec_sql(c, "COMMIT");
    if (rc != 0 && PQstatus(c->pq) == CONNECTION_OK)
        PQclear(PQexec(c->pq, "ROLLBACK"));
    return rc;
}

static int schema_version(struct pg_conn *c, int64_t *version)
{
    int rc = pg_exec_sql(c, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    if (rc == 0)
        rc = pg_exec_sql(c, "INSERT INTO schema_version (version) SELECT 0"
                            " WHERE NOT EXISTS (SELECT 1 FROM schema_version)");
    if (rc != 0)
        return rc;
    PGresult *r = PQexec(c->pq, "SELECT version FROM schema_version");
    rc = HERALD_ESTORE;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        parse_int64(PQgetvalue(r, 0, 0), 0, INT32_MAX, version))
        rc = 0;
    PQclear(r);
    return rc;
}

/* Applies the missing migrations under the advisory lock, so nodes
 * starting together take turns; the lock goes with the session should
 * this process die half-way. */
static int migrate(struct pg_conn *c)
{
    int rc = pg_exec_sql(c, "SELECT pg_advisory_lock(" PG_MIGRATION_LOCK ")");
    if (rc != 0)
        return rc;
    int64_t version = 0, known = (int64_t)ARRAY_SIZE(pg_migrations);
    rc = schema_version(c, &version);
    if (rc == 0 && version > known) {
        log_kv(LOG_ERROR, "the database schema is newer than this herald", NULL);
        rc = HERALD_ESTORE;
    }
    for (int64_t v = version; rc == 0 && v < known; v++)
        rc = migrate_step(c, v);
    if (rc == 0 && version < known) {
        char from[24], to[24];
        snprintf(from, sizeof from, "%lld", (long long)version);
        snprintf(to, sizeof to, "%lld", (long long)known);
        log_kv(LOG_INFO, "database schema migrated", "from", from, "to", to, NULL);
    }
    if (PQstatus(c->pq) == CONNECTION_OK)
        PQclear(PQexec(c->pq, "SELECT pg_advisory_unlock(" PG_MIGRATION_LOCK ")"));
    return rc;
}

/* The first connection is opened here rather than on first use, so a bad
 * URL, an unreachable server or a failed migration stops the start. */
int store_postgres_open(const char *url, int pool, struct store **out)
{
    *out = NULL;
    if (pool < 1)
        pool = 1;
    struct pg *g = xcalloc(1, sizeof *g);
    g->base.ops = &postgres_ops;
    g->base.impl = g;
    pg_pool_init(&g->pool, url, pool, conn_setup, NULL);
    /* This node's connections take consecutive slots from a random start:
     * distinct ones within the node (up to COUNT_SLOTS connections), and
     * seldom another node's. */
    g->counts = xcalloc((size_t)pool, sizeof *g->counts);
    uint32_t base;
    random_bytes(&base, sizeof base);
    for (int i = 0; i < pool; i++) {
        g->counts[i].slot = (int)((base + (uint32_t)i) % COUNT_SLOTS);
        g->pool.conns[i].user = &g->counts[i];
    }

    struct pg_conn *c;
    int rc = HERALD_ESTORE;
    PGconn *pq = pg_connect(url);
    if (!pq) {
        log_kv(LOG_ERROR, "cannot connect to the PostgreSQL database", NULL);
        goto out;
    }
    c = &g->pool.conns[0]; /* idle, and the first pg_acquire takes it */
    c->pq = pq;
    rc = migrate(c);
    if (rc == 0)
        rc = conn_setup(pq, NULL);
out:
    if (rc != 0) {
        pg_close(&g->base);
        return rc == HERALD_EBUSY ? HERALD_ESTORE : rc;
    }
    *out = &g->base;
    return 0;
}

static const struct store_ops postgres_ops = {
    .name = "postgres",
    .close = pg_close,
    .ping = pg_ping,
    .account_create = pg_account_create,
    .account_get = pg_account_get,
    .account_list = pg_account_list,
    .account_count = pg_account_count,
    .key_create = pg_key_create,
    .key_find = pg_key_find,
    .key_get = pg_key_get,
    .key_revoke = pg_key_revoke,
    .event_type_create = pg_event_type_create,
    .event_type_get = pg_event_type_get,
    .event_type_list = pg_event_type_list,
    .webhook_create = pg_webhook_create,
    .webhook_get = pg_webhook_get,
    .webhook_get_any = pg_webhook_get_any,
    .webhook_list = pg_webhook_list,
    .webhook_update = pg_webhook_update,
    .webhook_delete = pg_webhook_delete,
    .ingest = pg_ingest,
    .event_get = pg_event_get,
    .event_list = pg_event_list,
    .delivery_get = pg_delivery_get,
    .delivery_list_for_event = pg_delivery_list_for_event,
    .claim_due = pg_claim_due,
    .next_due = pg_next_due,
    .record = pg_record,
    .defer = pg_defer,
    .release = pg_release,
    .delivery_retry = pg_delivery_retry,
    .recover = pg_recover,
    .attempt_list = pg_attempt_list,
    .stats = pg_stats,
    .attempt_series = pg_attempt_series,
    .notify_fd = pg_notify_fd,
    .notify_consume = pg_notify_consume,
};
