/*
 * test_store.c — the store contract (store.h), through struct store only.
 *
 * The same file runs against every backend: with HERALD_TEST_DB set to a
 * URL (postgres://…) it uses that database, otherwise a fresh SQLite file
 * in a temporary directory per test. Every test works in accounts of its
 * own, so a shared database needs no cleaning; tests that claim first
 * drain whatever earlier runs left due (drain()), and global counters are
 * compared as deltas.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/id.h"
#include "core/util.h"
#include "store/store.h"

#define T0 1700000000000LL
#define SEC 1000LL
#define HOUR (3600 * SEC)
#define FAR (INT64_MAX / 4) /* a lease that never expires in these tests */

struct fx {
    char dir[256]; /* temporary directory, "" with HERALD_TEST_DB */
    char url[512];
    bool shared; /* HERALD_TEST_DB: other tests' rows are around */
    struct store *s;
    char acct[HERALD_ID_MAX];
    char other[HERALD_ID_MAX];
};

#define OPS(f) ((f)->s->ops)

/* ---- fixture -------------------------------------------------------- */

static void mk_account(struct store *s, char id[HERALD_ID_MAX], const char *name, int64_t t)
{
    struct store_account a = {.created_at = t};
    id_new(a.id, "acct", t);
    snprintf(a.name, sizeof a.name, "%s", name);
    assert_int_equal(s->ops->account_create(s, &a), 0);
    memcpy(id, a.id, HERALD_ID_MAX);
}

static int open_store(struct fx *f)
{
    return store_open(f->url, 4, &f->s);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    const char *env = getenv("HERALD_TEST_DB");
    if (env && *env) {
        f->shared = true;
        snprintf(f->url, sizeof f->url, "%s", env);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/herald-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        /* Two missing levels: open must create them. */
        snprintf(f->url, sizeof f->url, "sqlite:%s/var/db/herald.db", f->dir);
    }
    assert_int_equal(open_store(f), 0);
    mk_account(f->s, f->acct, "acme", T0);
    mk_account(f->s, f->other, "other", T0);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    if (f->dir[0])
        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- helpers -------------------------------------------------------- */

static void fill_webhook(struct store_webhook *w, const char *acct, const char *name,
                         const char *events, bool enabled, int64_t t)
{
    memset(w, 0, sizeof *w);
    id_new(w->id, "wh", t);
    snprintf(w->account_id, sizeof w->account_id, "%s", acct);
    w->name = (char *)name;
    w->description = "";
    w->url = "https://example.com/hook";
    snprintf(w->method, sizeof w->method, "POST");
    snprintf(w->content_type, sizeof w->content_type, "application/json");
    w->events = (char *)events;
    w->headers = "{}";
    w->max_attempts = 4;
    w->max_in_flight = 8;
    w->enabled = enabled;
    snprintf(w->kind, sizeof w->kind, "webhook");
    snprintf(w->signature_scheme, sizeof w->signature_scheme, "standard");
    w->secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w->created_at = t;
    w->modified_at = t;
}

static void mk_webhook(struct fx *f, const char *acct, const char *name, const char *events,
                       bool enabled, int64_t t, char id[HERALD_ID_MAX])
{
    struct store_webhook w;
    fill_webhook(&w, acct, name, events, enabled, t);
    assert_int_equal(OPS(f)->webhook_create(f->s, &w), 0);
    memcpy(id, w.id, HERALD_ID_MAX);
}

static void ev_init(struct store_ingest *it, const char *acct, const char *type, const char *data,
                    int64_t t)
{
    memset(it, 0, sizeof *it);
    it->account_id = acct;
    it->type = type;
    it->data = data;
    it->data_len = strlen(data);
    id_new(it->id, "evt", t);
    it->created_at = t;
}

static struct store_ingest ingest1(struct fx *f, const char *acct, const char *type, int64_t t)
{
    struct store_ingest it;
    ev_init(&it, acct, type, "{\"n\":1}", t);
    assert_int_equal(OPS(f)->ingest(f->s, &it, 1), 0);
    return it;
}

static struct store_delivery get_delivery(struct fx *f, const char *acct, const char *id)
{
    struct store_delivery d;
    assert_int_equal(OPS(f)->delivery_get(f->s, acct, id, &d), 0);
    return d;
}

static struct store_webhook get_webhook(struct fx *f, const char *acct, const char *id)
{
    struct store_webhook w;
    assert_int_equal(OPS(f)->webhook_get(f->s, acct, id, &w), 0);
    return w;
}

static size_t claim(struct fx *f, const char *owner, int64_t now, int64_t until, size_t max,
                    struct store_claim **out)
{
    size_t n = 99;
    assert_int_equal(OPS(f)->claim_due(f->s, owner, now, until, max, out, &n), 0);
    return n;
}

/* Takes everything earlier tests left due on a shared database, for good,
 * so claim results below are this test's rows only. */
static void drain(struct fx *f)
{
    for (;;) {
        struct store_claim *c;
        size_t n = claim(f, "drain", FAR, FAR * 2, 1000, &c);
        store_claims_free(c, n);
        if (n == 0)
            break;
    }
}

static bool claimed(const struct store_claim *c, size_t n, const char *delivery_id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].delivery_id, delivery_id) == 0)
            return true;
    return false;
}

static struct store_result result_for(const struct store_claim *c, int n, int64_t started,
                                      enum store_outcome outcome, int code)
{
    struct store_result r = {
        .delivery_id = c->delivery_id,
        .event_id = c->event_id,
        .webhook_id = c->webhook_id,
        .event_type = c->event_type,
        .n = n,
        .started_at = started,
        .duration_ms = 50,
        .response_code = code,
        .error = outcome == STORE_SUCCEEDED ? "" : "http",
        .response_body = "ok",
        .response_len = 2,
        .request_headers = "{\"webhook-id\":\"x\"}",
        .outcome = outcome,
        .row = c->row, /* as the dispatcher passes it */
    };
    id_new(r.attempt_id, "att", started);
    return r;
}

static int64_t count_events(struct fx *f, const char *acct)
{
    struct store_event_query q = {.page = 0, .count = 1};
    struct store_event *e;
    size_t n;
    int64_t total;
    assert_int_equal(OPS(f)->event_list(f->s, acct, &q, &e, &n, &total), 0);
    store_events_free(e, n);
    return total;
}

/* The webhook ids of an event's deliveries, for set comparisons. */
static size_t delivery_hooks(struct fx *f, const char *acct, const char *event_id,
                             char hooks[][HERALD_ID_MAX], size_t max)
{
    struct store_delivery *d;
    size_t n;
    assert_int_equal(OPS(f)->delivery_list_for_event(f->s, acct, event_id, &d, &n), 0);
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++)
        memcpy(hooks[i], d[i].webhook_id, HERALD_ID_MAX);
    free(d);
    return n;
}

static bool has_hook(char hooks[][HERALD_ID_MAX], size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(hooks[i], id) == 0)
            return true;
    return false;
}

/* ---- accounts and keys ---------------------------------------------- */

static void test_accounts(void **state)
{
    struct fx *f = *state;
    struct store_account a;
    assert_int_equal(OPS(f)->ping(f->s), 0);
    assert_int_equal(OPS(f)->account_get(f->s, f->acct, &a), 0);
    assert_string_equal(a.id, f->acct);
    assert_string_equal(a.name, "acme");
    assert_int_equal(a.created_at, T0);

    char missing[HERALD_ID_MAX];
    id_new(missing, "acct", T0);
    assert_int_equal(OPS(f)->account_get(f->s, missing, &a), HERALD_ENOTFOUND);

    struct store_account dup = {.created_at = T0};
    memcpy(dup.id, f->acct, sizeof dup.id);
    snprintf(dup.name, sizeof dup.name, "again");
    assert_int_equal(OPS(f)->account_create(f->s, &dup), HERALD_ECONFLICT);

    int64_t before, after;
    assert_int_equal(OPS(f)->account_count(f->s, &before), 0);
    char third[HERALD_ID_MAX];
    mk_account(f->s, third, "third", T0 + 5);
    assert_int_equal(OPS(f)->account_count(f->s, &after), 0);
    assert_int_equal(after, before + 1);

    struct store_account *list;
    size_t n;
    int64_t total;
    assert_int_equal(OPS(f)->account_list(f->s, 0, 2, &list, &n, &total), 0);
    assert_int_equal(total, after);
    assert_int_equal(n, 2);
    free(list);
    if (!f->shared) {
        /* Oldest first: acme and other (same time, id order), then third. */
        assert_int_equal(OPS(f)->account_list(f->s, 1, 2, &list, &n, &total), 0);
        assert_int_equal(n, 1);
        assert_string_equal(list[0].id, third);
        free(list);
    }
    assert_int_equal(OPS(f)->account_list(f->s, 0, 0, &list, &n, &total), HERALD_EINVAL);
}

static void test_keys(void **state)
{
    struct fx *f = *state;
    struct store_key k = {.created_at = T0};
    id_new(k.id, "key", T0);
    memcpy(k.account_id, f->acct, sizeof k.account_id);
    snprintf(k.role, sizeof k.role, "admin");
    char secret[HERALD_ID_MAX];
    id_new(secret, "hk", T0); /* random, so shared databases never clash */
    sha256_hex(secret, strlen(secret), k.hash);
    snprintf(k.prefix, sizeof k.prefix, "%.8s", secret);
    assert_int_equal(OPS(f)->key_create(f->s, &k), 0);

    struct store_key got;
    assert_int_equal(OPS(f)->key_find(f->s, k.hash, &got), 0);
    assert_string_equal(got.id, k.id);
    assert_string_equal(got.account_id, f->acct);
    assert_string_equal(got.role, "admin");
    assert_string_equal(got.prefix, k.prefix);
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.revoked_at, 0);
    assert_int_equal(OPS(f)->key_get(f->s, k.id, &got), 0);
    assert_string_equal(got.hash, k.hash);

    char other_hash[65];
    sha256_hex("nope", 4, other_hash);
    assert_int_equal(OPS(f)->key_find(f->s, other_hash, &got), HERALD_ENOTFOUND);

    /* The hash is unique, whatever the id. */
    struct store_key dup = k;
    id_new(dup.id, "key", T0 + 1);
    assert_int_equal(OPS(f)->key_create(f->s, &dup), HERALD_ECONFLICT);

    assert_int_equal(OPS(f)->key_revoke(f->s, k.id, T0 + 100), 0);
    assert_int_equal(OPS(f)->key_find(f->s, k.hash, &got), 0); /* revoked keys are found */
    assert_int_equal(got.revoked_at, T0 + 100);
    assert_int_equal(OPS(f)->key_revoke(f->s, k.id, T0 + 200), 0);
    assert_int_equal(OPS(f)->key_get(f->s, k.id, &got), 0);
    assert_int_equal(got.revoked_at, T0 + 100); /* the first revocation stands */

    char missing[HERALD_ID_MAX];
    id_new(missing, "key", T0);
    assert_int_equal(OPS(f)->key_revoke(f->s, missing, T0), HERALD_ENOTFOUND);
    assert_int_equal(OPS(f)->key_get(f->s, missing, &got), HERALD_ENOTFOUND);
}

/* ---- event types ---------------------------------------------------- */

static void test_event_types(void **state)
{
    struct fx *f = *state;
    struct store_event_type t = {
        .name = "order.shipped",
        .description = "An order left the warehouse",
        .sample = "{\"order\":42}",
        .created_at = T0,
    };
    memcpy(t.account_id, f->acct, sizeof t.account_id);
    assert_int_equal(OPS(f)->event_type_create(f->s, &t), 0);
    assert_int_equal(OPS(f)->event_type_create(f->s, &t), HERALD_ECONFLICT);
    struct store_event_type t2 = t;
    snprintf(t2.name, sizeof t2.name, "a.first");
    assert_int_equal(OPS(f)->event_type_create(f->s, &t2), 0);
    /* The same name in another account is another type. */
    memcpy(t2.account_id, f->other, sizeof t2.account_id);
    snprintf(t2.name, sizeof t2.name, "order.shipped");
    assert_int_equal(OPS(f)->event_type_create(f->s, &t2), 0);

    struct store_event_type got;
    assert_int_equal(OPS(f)->event_type_get(f->s, f->acct, "order.shipped", &got), 0);
    assert_string_equal(got.name, "order.shipped");
    assert_string_equal(got.description, "An order left the warehouse");
    assert_string_equal(got.sample, "{\"order\":42}");
    assert_string_equal(got.account_id, f->acct);
    assert_int_equal(got.created_at, T0);
    store_event_type_release(&got);
    assert_int_equal(OPS(f)->event_type_get(f->s, f->acct, "nope", &got), HERALD_ENOTFOUND);

    struct store_event_type *list;
    size_t n;
    assert_int_equal(OPS(f)->event_type_list(f->s, f->acct, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "a.first");
    assert_string_equal(list[1].name, "order.shipped");
    store_event_types_free(list, n);
    assert_int_equal(OPS(f)->event_type_list(f->s, f->other, &list, &n), 0);
    assert_int_equal(n, 1);
    store_event_types_free(list, n);
}

/* ---- webhooks ------------------------------------------------------- */

static void test_webhook_crud(void **state)
{
    struct fx *f = *state;
    struct store_webhook w;
    fill_webhook(&w, f->acct, "Orders", "[\"post.published\",\"post.*\"]", true, T0);
    w.description = "Sends orders";
    w.url = "https://hooks.example.com/in?x=1";
    snprintf(w.method, sizeof w.method, "PUT");
    snprintf(w.content_type, sizeof w.content_type, "application/x-www-form-urlencoded");
    w.headers = "{\"X-Team\":\"a\"}";
    w.max_attempts = 7;
    w.rate_limit = 5;
    w.max_in_flight = 3;
    snprintf(w.kind, sizeof w.kind, "slack");
    snprintf(w.signature_scheme, sizeof w.signature_scheme, "github");
    snprintf(w.payload_format, sizeof w.payload_format, "rows");
    snprintf(w.signature_header, sizeof w.signature_header, "X-Acme-Signature");
    w.prev_secret = "whsec_old";
    w.prev_secret_expires_at = T0 + 24 * HOUR;
    assert_int_equal(OPS(f)->webhook_create(f->s, &w), 0);
    assert_int_equal(OPS(f)->webhook_create(f->s, &w), HERALD_ECONFLICT);

    struct store_webhook g = get_webhook(f, f->acct, w.id);
    assert_string_equal(g.id, w.id);
    assert_string_equal(g.account_id, f->acct);
    assert_string_equal(g.name, "Orders");
    assert_string_equal(g.description, "Sends orders");
    assert_string_equal(g.url, w.url);
    assert_string_equal(g.method, "PUT");
    assert_string_equal(g.content_type, "application/x-www-form-urlencoded");
    assert_string_equal(g.events, w.events);
    assert_string_equal(g.headers, w.headers);
    assert_int_equal(g.max_attempts, 7);
    assert_int_equal(g.rate_limit, 5);
    assert_int_equal(g.max_in_flight, 3);
    assert_true(g.enabled);
    assert_string_equal(g.kind, "slack");
    assert_string_equal(g.signature_scheme, "github");
    assert_string_equal(g.payload_format, "rows");
    assert_string_equal(g.signature_header, "X-Acme-Signature");
    assert_string_equal(g.timestamp_header, "");
    assert_string_equal(g.secret, w.secret);
    assert_string_equal(g.prev_secret, "whsec_old");
    assert_int_equal(g.prev_secret_expires_at, T0 + 24 * HOUR);
    assert_null(g.disabled_reason);
    assert_int_equal(g.created_at, T0);
    assert_int_equal(g.modified_at, T0);
    assert_int_equal(g.last_execution_at, 0);
    assert_int_equal(g.failing_since, 0);
    store_webhook_release(&g);

    /* Another account's webhook does not exist for this one. */
    assert_int_equal(OPS(f)->webhook_get(f->s, f->other, w.id, &g), HERALD_ENOTFOUND);
    assert_int_equal(OPS(f)->webhook_get_any(f->s, w.id, &g), 0);
    assert_string_equal(g.account_id, f->acct);
    store_webhook_release(&g);

    struct store_webhook u = w;
    u.name = "Orders v2";
    u.description = "";
    u.url = "https://hooks.example.com/v2";
    u.events = "[\"*\"]";
    u.enabled = false;
    u.disabled_reason = "paused by user";
    u.prev_secret = NULL;
    u.prev_secret_expires_at = 0;
    u.max_attempts = 2;
    snprintf(u.signature_scheme, sizeof u.signature_scheme, "timestamped-hex");
    snprintf(u.payload_format, sizeof u.payload_format, "standard");
    snprintf(u.signature_header, sizeof u.signature_header, "x-feedspace-signature");
    snprintf(u.timestamp_header, sizeof u.timestamp_header, "x-feedspace-timestamp");
    u.modified_at = T0 + 10;
    u.created_at = T0 + 999;       /* immutable */
    u.last_execution_at = T0 + 77; /* owned by record(), not by updates */
    memcpy(u.account_id, f->other, sizeof u.account_id);
    assert_int_equal(OPS(f)->webhook_update(f->s, &u), HERALD_ENOTFOUND);
    memcpy(u.account_id, f->acct, sizeof u.account_id);
    assert_int_equal(OPS(f)->webhook_update(f->s, &u), 0);
    g = get_webhook(f, f->acct, w.id);
    assert_string_equal(g.name, "Orders v2");
    assert_string_equal(g.description, "");
    assert_string_equal(g.url, "https://hooks.example.com/v2");
    assert_string_equal(g.events, "[\"*\"]");
    assert_false(g.enabled);
    assert_string_equal(g.disabled_reason, "paused by user");
    assert_null(g.prev_secret);
    assert_int_equal(g.max_attempts, 2);
    assert_string_equal(g.signature_scheme, "timestamped-hex");
    assert_string_equal(g.payload_format, "standard");
    assert_string_equal(g.signature_header, "x-feedspace-signature");
    assert_string_equal(g.timestamp_header, "x-feedspace-timestamp");
    assert_int_equal(g.modified_at, T0 + 10);
    assert_int_equal(g.created_at, T0);
    assert_int_equal(g.last_execution_at, 0);
    store_webhook_release(&g);

    assert_int_equal(OPS(f)->webhook_delete(f->s, f->other, w.id, T0), HERALD_ENOTFOUND);
    assert_int_equal(OPS(f)->webhook_delete(f->s, f->acct, w.id, T0), 0);
    assert_int_equal(OPS(f)->webhook_get(f->s, f->acct, w.id, &g), HERALD_ENOTFOUND);
    assert_int_equal(OPS(f)->webhook_delete(f->s, f->acct, w.id, T0), HERALD_ENOTFOUND);
    assert_int_equal(OPS(f)->webhook_update(f->s, &u), HERALD_ENOTFOUND);
}

/* Five webhooks whose every orderable field sorts differently. */
static const struct {
    const char *name, *description, *events;
    bool enabled;
    int64_t modified, last_exec;
} list_fixture[] = {
    {"Alpha hook", "zeta", "[\"post.published\"]", true, 5, 50},
    {"beta Hook", "Epsilon", "[\"post.*\"]", false, 4, 10},
    {"Gamma", "delta", "[\"*\"]", true, 3, 40},
    {"delta HOOK", "Gamma", "[\"analytics.updated\"]", true, 2, 20},
    {"Epsilon", "beta", "[\"account.connected\",\"post.failed\"]", false, 1, 30},
};

static void list_names(struct fx *f, const struct store_webhook_query *q, const char *expect,
                       int64_t expect_total)
{
    struct store_webhook *w;
    size_t n;
    int64_t total;
    assert_int_equal(OPS(f)->webhook_list(f->s, f->acct, q, &w, &n, &total), 0);
    char got[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(got + len, sizeof got - len, "%s%s", i ? "|" : "", w[i].name);
    store_webhooks_free(w, n);
    assert_string_equal(got, expect);
    assert_int_equal(total, expect_total);
}

static void test_webhook_list(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < ARRAY_SIZE(list_fixture); i++) {
        struct store_webhook w;
        fill_webhook(&w, f->acct, list_fixture[i].name, list_fixture[i].events,
                     list_fixture[i].enabled, T0 + 1 + (int64_t)i);
        w.description = (char *)list_fixture[i].description;
        w.modified_at = T0 + list_fixture[i].modified;
        w.last_execution_at = T0 + list_fixture[i].last_exec;
        assert_int_equal(OPS(f)->webhook_create(f->s, &w), 0);
    }
    char other_id[HERALD_ID_MAX];
    mk_webhook(f, f->other, "Alpha other", "[\"*\"]", true, T0, other_id);

    struct store_webhook_query q = {.enabled = -1, .page = 0, .count = 20};
    const char *all_created = "Alpha hook|beta Hook|Gamma|delta HOOK|Epsilon";
    list_names(f, &q, all_created, 5); /* default order: created_at */
    q.order = "created_at";
    list_names(f, &q, all_created, 5);
    q.desc = true;
    list_names(f, &q, "Epsilon|delta HOOK|Gamma|beta Hook|Alpha hook", 5);
    q.desc = false;
    q.order = "name";
    list_names(f, &q, "Alpha hook|beta Hook|delta HOOK|Epsilon|Gamma", 5);
    q.desc = true;
    list_names(f, &q, "Gamma|Epsilon|delta HOOK|beta Hook|Alpha hook", 5);
    q.desc = false;
    q.order = "description";
    list_names(f, &q, "Epsilon|Gamma|beta Hook|delta HOOK|Alpha hook", 5);
    q.order = "last_execution_at";
    list_names(f, &q, "beta Hook|delta HOOK|Epsilon|Gamma|Alpha hook", 5);
    q.desc = true;
    list_names(f, &q, "Alpha hook|Gamma|Epsilon|delta HOOK|beta Hook", 5);
    q.order = "modified_at";
    list_names(f, &q, "Alpha hook|beta Hook|Gamma|delta HOOK|Epsilon", 5);
    q.desc = false;
    list_names(f, &q, "Epsilon|delta HOOK|Gamma|beta Hook|Alpha hook", 5);
    q.order = "enabled"; /* ties broken by id, which follows creation */
    list_names(f, &q, "beta Hook|Epsilon|Alpha hook|Gamma|delta HOOK", 5);
    q.desc = true;
    list_names(f, &q, "delta HOOK|Gamma|Alpha hook|Epsilon|beta Hook", 5);

    /* Filters. */
    q.desc = false;
    q.order = "created_at";
    q.event = "post.published"; /* exact, post.* and * cover it */
    list_names(f, &q, "Alpha hook|beta Hook|Gamma", 3);
    q.event = "post.failed";
    list_names(f, &q, "beta Hook|Gamma|Epsilon", 3);
    q.event = "feed.text.received";
    list_names(f, &q, "Gamma", 1);
    q.event = NULL;
    q.name = "hOOk";
    list_names(f, &q, "Alpha hook|beta Hook|delta HOOK", 3);
    q.enabled = 1;
    list_names(f, &q, "Alpha hook|delta HOOK", 2);
    q.name = NULL;
    list_names(f, &q, "Alpha hook|Gamma|delta HOOK", 3);
    q.enabled = 0;
    list_names(f, &q, "beta Hook|Epsilon", 2);
    q.enabled = -1;
    q.name = "no such";
    list_names(f, &q, "", 0);
    q.name = "%"; /* not a wildcard */
    list_names(f, &q, "", 0);

    /* Paging: total counts every match, the page holds count of them. */
    q.name = NULL;
    q.order = "name";
    q.count = 2;
    q.page = 1;
    list_names(f, &q, "delta HOOK|Epsilon", 5);
    q.page = 2;
    list_names(f, &q, "Gamma", 5);
    q.page = 3;
    list_names(f, &q, "", 5);

    /* Only the six fields; nothing else reaches SQL. */
    struct store_webhook *w;
    size_t n;
    int64_t total;
    q.event = NULL;
    q.order = "url";
    assert_int_equal(OPS(f)->webhook_list(f->s, f->acct, &q, &w, &n, &total), HERALD_EINVAL);
    q.order = "name; DROP TABLE webhooks";
    assert_int_equal(OPS(f)->webhook_list(f->s, f->acct, &q, &w, &n, &total), HERALD_EINVAL);
    q.order = "name";
    q.count = 0;
    assert_int_equal(OPS(f)->webhook_list(f->s, f->acct, &q, &w, &n, &total), HERALD_EINVAL);

    /* The other account sees only its own. */
    q.count = 20;
    q.page = 0;
    assert_int_equal(OPS(f)->webhook_list(f->s, f->other, &q, &w, &n, &total), 0);
    assert_int_equal(n, 1);
    assert_int_equal(total, 1);
    assert_string_equal(w[0].id, other_id);
    store_webhooks_free(w, n);
}

/* ---- ingest --------------------------------------------------------- */

static void test_ingest_fanout(void **state)
{
    struct fx *f = *state;
    char exact[HERALD_ID_MAX], star[HERALD_ID_MAX], prefix[HERALD_ID_MAX], analytics[HERALD_ID_MAX];
    char disabled[HERALD_ID_MAX], foreign[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "exact", "[\"post.published\"]", true, T0, exact);
    mk_webhook(f, f->acct, "star", "[\"*\"]", true, T0 + 1, star);
    mk_webhook(f, f->acct, "prefix", "[\"post.*\"]", true, T0 + 2, prefix);
    mk_webhook(f, f->acct, "analytics", "[\"analytics.updated\"]", true, T0 + 3, analytics);
    mk_webhook(f, f->acct, "off", "[\"*\"]", false, T0 + 4, disabled);
    mk_webhook(f, f->other, "foreign", "[\"*\"]", true, T0 + 5, foreign);
    struct store_webhook w = get_webhook(f, f->acct, analytics);
    w.max_attempts = 9;
    assert_int_equal(OPS(f)->webhook_update(f->s, &w), 0);
    store_webhook_release(&w);

    /* Bytes as published: spacing, key order, escapes and UTF-8 kept. */
    static const char data[] = "{ \"b\":1,  \"a\":\"caf\xc3\xa9 \\u00e9\\n\" ,\"x\":[1.50,2e3] }";
    struct store_ingest it;
    ev_init(&it, f->acct, "post.published", data, T0 + 100);
    char first_id[HERALD_ID_MAX];
    memcpy(first_id, it.id, sizeof first_id);
    assert_int_equal(OPS(f)->ingest(f->s, &it, 1), 0);
    assert_false(it.duplicate);
    assert_string_equal(it.id, first_id);
    assert_string_equal(it.out_type, "post.published");
    assert_int_equal(it.deliveries, 3);
    assert_true(id_valid(it.first_delivery_id, "dlv"));

    char hooks[8][HERALD_ID_MAX];
    size_t n = delivery_hooks(f, f->acct, it.id, hooks, 8);
    assert_int_equal(n, 3);
    assert_true(has_hook(hooks, n, exact));
    assert_true(has_hook(hooks, n, star));
    assert_true(has_hook(hooks, n, prefix));

    struct store_delivery d = get_delivery(f, f->acct, it.first_delivery_id);
    assert_string_equal(d.event_id, it.id);
    assert_string_equal(d.account_id, f->acct);
    assert_string_equal(d.status, "pending");
    assert_int_equal(d.attempts, 0);
    assert_int_equal(d.max_attempts, 4);
    assert_int_equal(d.next_attempt_at, T0 + 100);
    assert_int_equal(d.created_at, T0 + 100);
    assert_int_equal(OPS(f)->delivery_get(f->s, f->other, it.first_delivery_id, &d),
                     HERALD_ENOTFOUND);

    struct store_event e;
    assert_int_equal(OPS(f)->event_get(f->s, f->acct, it.id, &e), 0);
    assert_int_equal(e.payload_len, sizeof data - 1);
    assert_memory_equal(e.payload, data, sizeof data - 1);
    assert_string_equal(e.type, "post.published");
    assert_string_equal(e.account_id, f->acct);
    assert_null(e.idempotency_key);
    assert_int_equal(e.created_at, T0 + 100);
    store_event_release(&e);
    assert_int_equal(OPS(f)->event_get(f->s, f->other, it.id, &e), HERALD_ENOTFOUND);
    struct store_delivery *dl;
    size_t dn;
    assert_int_equal(OPS(f)->delivery_list_for_event(f->s, f->other, it.id, &dl, &dn),
                     HERALD_ENOTFOUND);

    /* A batch: one call, every item filled in. */
    struct store_ingest b[4];
    ev_init(&b[0], f->acct, "analytics.updated", "{}", T0 + 200);
    ev_init(&b[1], f->acct, "feed.text.received", "{}", T0 + 201);
    ev_init(&b[2], f->other, "post.published", "{}", T0 + 202);
    ev_init(&b[3], f->acct, "post.failed", "{}", T0 + 203);
    b[3].max_attempts = 2;
    assert_int_equal(OPS(f)->ingest(f->s, b, 4), 0);
    assert_int_equal(b[0].deliveries, 2); /* star, analytics */
    assert_int_equal(b[1].deliveries, 1); /* star */
    assert_int_equal(b[2].deliveries, 1); /* foreign */
    assert_int_equal(b[3].deliveries, 2); /* star, prefix */
    n = delivery_hooks(f, f->acct, b[0].id, hooks, 8);
    assert_true(has_hook(hooks, n, analytics) && has_hook(hooks, n, star));
    n = delivery_hooks(f, f->other, b[2].id, hooks, 8);
    assert_true(n == 1 && has_hook(hooks, n, foreign));

    /* max_attempts: the webhook's unless the item sets one. */
    assert_int_equal(OPS(f)->delivery_list_for_event(f->s, f->acct, b[0].id, &dl, &dn), 0);
    for (size_t i = 0; i < dn; i++)
        assert_int_equal(dl[i].max_attempts, strcmp(dl[i].webhook_id, analytics) == 0 ? 9 : 4);
    free(dl);
    assert_int_equal(OPS(f)->delivery_list_for_event(f->s, f->acct, b[3].id, &dl, &dn), 0);
    for (size_t i = 0; i < dn; i++)
        assert_int_equal(dl[i].max_attempts, 2);
    free(dl);

    /* No webhook covers it: the event is still stored. */
    char lone_acct[HERALD_ID_MAX];
    mk_account(f->s, lone_acct, "lone", T0);
    struct store_ingest lone = ingest1(f, lone_acct, "post.published", T0 + 301);
    assert_int_equal(lone.deliveries, 0);
    assert_string_equal(lone.first_delivery_id, "");
    assert_int_equal(count_events(f, lone_acct), 1);

    /* A clashing event id fails the whole batch, leaving nothing behind. */
    struct store_ingest clash[2];
    ev_init(&clash[0], lone_acct, "post.published", "{}", T0 + 400);
    ev_init(&clash[1], lone_acct, "post.published", "{}", T0 + 401);
    memcpy(clash[1].id, lone.id, sizeof clash[1].id);
    assert_int_equal(OPS(f)->ingest(f->s, clash, 2), HERALD_ECONFLICT);
    assert_int_equal(count_events(f, lone_acct), 1);
}

/* Sets webhook id of acct to events/enabled through s, as an API update
 * (or the CLI, through a handle of its own) would. */
static void set_webhook(struct store *s, const char *acct, const char *id, const char *events,
                        bool enabled, int64_t t)
{
    struct store_webhook w;
    fill_webhook(&w, acct, "changed", events, enabled, T0);
    memcpy(w.id, id, HERALD_ID_MAX);
    w.modified_at = t;
    assert_int_equal(s->ops->webhook_update(s, &w), 0);
}

/* Ingest may keep an account's subscriptions between commits (SQLite: per
 * connection, while webhooks_version holds); every change to the account's
 * webhooks, made through this handle or another process's, must reach the
 * very next ingest. */
static void test_fanout_follows_webhook_changes(void **state)
{
    struct fx *f = *state;
    struct store *cli;
    assert_int_equal(store_open(f->url, 1, &cli), 0);
    char a[HERALD_ID_MAX], b[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "a", "[\"post.*\"]", true, T0, a);
    assert_int_equal(ingest1(f, f->acct, "post.published", T0 + 1).deliveries, 1);
    assert_int_equal(ingest1(f, f->acct, "analytics.updated", T0 + 2).deliveries, 0);

    set_webhook(cli, f->acct, a, "[\"analytics.*\"]", true, T0 + 3);
    assert_int_equal(ingest1(f, f->acct, "post.published", T0 + 4).deliveries, 0);
    assert_int_equal(ingest1(f, f->acct, "analytics.updated", T0 + 5).deliveries, 1);

    mk_webhook(f, f->acct, "b", "[\"*\"]", true, T0 + 6, b);
    struct store_ingest it = ingest1(f, f->acct, "analytics.updated", T0 + 7);
    assert_int_equal(it.deliveries, 2);

    set_webhook(cli, f->acct, b, "[\"*\"]", false, T0 + 8);
    it = ingest1(f, f->acct, "analytics.updated", T0 + 9);
    char hooks[4][HERALD_ID_MAX];
    assert_int_equal(it.deliveries, 1);
    assert_true(delivery_hooks(f, f->acct, it.id, hooks, 4) == 1 && has_hook(hooks, 1, a));

    set_webhook(f->s, f->acct, b, "[\"*\"]", true, T0 + 10);
    assert_int_equal(cli->ops->webhook_delete(cli, f->acct, a, T0 + 11), 0);
    it = ingest1(f, f->acct, "analytics.updated", T0 + 12);
    assert_int_equal(it.deliveries, 1);
    assert_true(delivery_hooks(f, f->acct, it.id, hooks, 4) == 1 && has_hook(hooks, 1, b));

    /* The other account's cached list is not this one's. */
    assert_int_equal(ingest1(f, f->other, "analytics.updated", T0 + 13).deliveries, 0);
    store_close(cli);
}

static void test_ingest_idempotency(void **state)
{
    struct fx *f = *state;
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "all", "[\"*\"]", true, T0, hook);

    struct store_ingest a;
    ev_init(&a, f->acct, "post.published", "{\"v\":1}", T0);
    a.idempotency_key = "order-1";
    assert_int_equal(OPS(f)->ingest(f->s, &a, 1), 0);
    assert_false(a.duplicate);
    assert_int_equal(a.deliveries, 1);

    /* Within 24 h: the first event answers, nothing is created. */
    struct store_ingest r;
    ev_init(&r, f->acct, "post.deleted", "{\"v\":2}", T0 + 23 * HOUR);
    r.idempotency_key = "order-1";
    assert_int_equal(OPS(f)->ingest(f->s, &r, 1), 0);
    assert_true(r.duplicate);
    assert_string_equal(r.id, a.id);
    assert_int_equal(r.created_at, T0);
    assert_string_equal(r.out_type, "post.published");
    assert_int_equal(r.deliveries, 1);
    assert_int_equal(count_events(f, f->acct), 1);

    /* The same key in another account is another key. */
    ev_init(&r, f->other, "post.published", "{}", T0 + HOUR);
    r.idempotency_key = "order-1";
    assert_int_equal(OPS(f)->ingest(f->s, &r, 1), 0);
    assert_false(r.duplicate);

    /* Twice in one batch: the second repeats the first. */
    struct store_ingest b[2];
    ev_init(&b[0], f->acct, "post.failed", "{}", T0 + HOUR);
    ev_init(&b[1], f->acct, "post.failed", "{}", T0 + HOUR + 1);
    b[0].idempotency_key = b[1].idempotency_key = "batch-key";
    assert_int_equal(OPS(f)->ingest(f->s, b, 2), 0);
    assert_false(b[0].duplicate);
    assert_true(b[1].duplicate);
    assert_string_equal(b[1].id, b[0].id);
    assert_int_equal(b[1].deliveries, 1);
    assert_int_equal(count_events(f, f->acct), 2);

    /* After 24 h the key is free again: a new event, the old one keeps
     * its data but loses the key. */
    struct store_ingest late;
    ev_init(&late, f->acct, "post.published", "{\"v\":3}", T0 + 24 * HOUR);
    late.idempotency_key = "order-1";
    assert_int_equal(OPS(f)->ingest(f->s, &late, 1), 0);
    assert_false(late.duplicate);
    assert_string_not_equal(late.id, a.id);
    assert_int_equal(late.deliveries, 1);
    assert_int_equal(count_events(f, f->acct), 3);
    struct store_event e;
    assert_int_equal(OPS(f)->event_get(f->s, f->acct, a.id, &e), 0);
    assert_null(e.idempotency_key);
    store_event_release(&e);
    assert_int_equal(OPS(f)->event_get(f->s, f->acct, late.id, &e), 0);
    assert_string_equal(e.idempotency_key, "order-1");
    store_event_release(&e);
}

static void test_ingest_only_webhook(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX], foreign[HERALD_ID_MAX];
    /* Disabled and not subscribed: a test send still reaches it. */
    mk_webhook(f, f->acct, "quiet", "[\"analytics.updated\"]", false, T0, hook);
    mk_webhook(f, f->other, "foreign", "[\"*\"]", true, T0, foreign);

    struct store_ingest it;
    ev_init(&it, f->acct, "webhook.test", "{\"test\":true}", T0 + 10);
    it.only_webhook_id = hook;
    it.max_attempts = 1;
    it.lease_owner = "tester";
    it.lease_until = T0 + 60 * SEC;
    assert_int_equal(OPS(f)->ingest(f->s, &it, 1), 0);
    assert_int_equal(it.deliveries, 1);
    struct store_delivery d = get_delivery(f, f->acct, it.first_delivery_id);
    assert_string_equal(d.webhook_id, hook);
    assert_string_equal(d.status, "in_flight");
    assert_int_equal(d.max_attempts, 1);

    /* Leased: no dispatcher may take it. */
    struct store_claim *c;
    assert_int_equal(claim(f, "d1", T0 + 20, T0 + 1000, 10, &c), 0);

    /* The leaseholder records it. */
    struct store_result r = {
        .delivery_id = it.first_delivery_id,
        .event_id = it.id,
        .webhook_id = hook,
        .event_type = "webhook.test",
        .n = 1,
        .started_at = T0 + 20,
        .duration_ms = 30,
        .response_code = 204,
        .outcome = STORE_SUCCEEDED,
    };
    id_new(r.attempt_id, "att", T0 + 20);
    assert_int_equal(OPS(f)->record(f->s, "tester", &r, 1, NULL, 0), 0);
    d = get_delivery(f, f->acct, it.first_delivery_id);
    assert_string_equal(d.status, "succeeded");
    assert_int_equal(d.attempts, 1);

    /* Without a lease: pending. */
    ev_init(&it, f->acct, "webhook.test", "{}", T0 + 30);
    it.only_webhook_id = hook;
    assert_int_equal(OPS(f)->ingest(f->s, &it, 1), 0);
    assert_int_equal(it.deliveries, 1);
    d = get_delivery(f, f->acct, it.first_delivery_id);
    assert_string_equal(d.status, "pending");
    assert_int_equal(d.max_attempts, 4);

    /* Another account's webhook fails the whole call; nothing is stored. */
    int64_t before = count_events(f, f->acct);
    struct store_ingest b[2];
    ev_init(&b[0], f->acct, "post.published", "{}", T0 + 40);
    ev_init(&b[1], f->acct, "webhook.test", "{}", T0 + 41);
    b[1].only_webhook_id = foreign;
    assert_int_equal(OPS(f)->ingest(f->s, b, 2), HERALD_ENOTFOUND);
    assert_int_equal(count_events(f, f->acct), before);
}

/* ---- claim, next_due ------------------------------------------------ */

static void test_claim_due(void **state)
{
    struct fx *f = *state;
    drain(f);
    int64_t at;
    if (!f->shared) {
        assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
        assert_int_equal(at, INT64_MAX);
    }
    char on[HERALD_ID_MAX], off[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "on", "[\"*\"]", true, T0, on);
    mk_webhook(f, f->acct, "off", "[\"*\"]", true, T0 + 1, off);

    struct store_ingest e[3];
    ev_init(&e[0], f->acct, "post.published", "{\"i\":0}", T0 + 20);
    ev_init(&e[1], f->acct, "post.failed", "{\"i\":1}", T0 + 10);
    ev_init(&e[2], f->acct, "post.deleted", "{\"i\":2}", T0 + 30);
    assert_int_equal(OPS(f)->ingest(f->s, e, 3), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(e[i].deliveries, 2);
    /* Disabled after the events came: its deliveries wait. */
    struct store_webhook w = get_webhook(f, f->acct, off);
    w.enabled = false;
    assert_int_equal(OPS(f)->webhook_update(f->s, &w), 0);
    store_webhook_release(&w);
    assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
    assert_int_equal(at, T0 + 10);

    /* Due ones only, oldest first, none of the disabled webhook. The
     * first delivery of each event is the oldest webhook's, "on". */
    struct store_claim *c;
    size_t n = claim(f, "d1", T0 + 25, T0 + 1000, 10, &c);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].delivery_id, e[1].first_delivery_id);
    assert_string_equal(c[1].delivery_id, e[0].first_delivery_id);
    assert_string_equal(c[0].event_id, e[1].id);
    assert_string_equal(c[0].webhook_id, on);
    assert_string_equal(c[0].account_id, f->acct);
    assert_string_equal(c[0].event_type, "post.failed");
    assert_int_equal(c[0].attempts, 0);
    assert_int_equal(c[0].max_attempts, 4);
    assert_int_equal(c[0].event_created_at, T0 + 10);
    assert_int_equal(c[0].webhook_modified_at, T0);
    assert_int_equal(c[0].payload_len, 7);
    assert_memory_equal(c[0].payload, "{\"i\":1}", 7);
    store_claims_free(c, n);
    struct store_delivery d = get_delivery(f, f->acct, e[1].first_delivery_id);
    assert_string_equal(d.status, "in_flight");

    /* Claimed rows are not claimed twice while leased. */
    assert_int_equal(claim(f, "d2", T0 + 26, T0 + 1000, 10, &c), 0);
    assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
    assert_int_equal(at, T0 + 30);

    /* max is respected. */
    n = claim(f, "d2", T0 + 40, T0 + 500, 1, &c);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].delivery_id, e[2].first_delivery_id);
    store_claims_free(c, n);
    assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
    assert_int_equal(at, T0 + 500); /* the earliest lease to expire */

    /* Expired leases come back, to a new owner. */
    n = claim(f, "d3", T0 + 1001, T0 + 2000, 10, &c);
    assert_int_equal(n, 3);
    assert_string_equal(c[0].delivery_id, e[2].first_delivery_id); /* lease ended first */
    assert_true(claimed(c, n, e[0].first_delivery_id));
    assert_true(claimed(c, n, e[1].first_delivery_id));
    store_claims_free(c, n);

    /* Enabling a webhook makes its waiting deliveries claimable; disabling
     * one hides its deliveries, leased or not. */
    w = get_webhook(f, f->acct, off);
    w.enabled = true;
    w.modified_at = T0 + 3000;
    assert_int_equal(OPS(f)->webhook_update(f->s, &w), 0);
    store_webhook_release(&w);
    w = get_webhook(f, f->acct, on);
    w.enabled = false;
    w.modified_at = T0 + 3000;
    assert_int_equal(OPS(f)->webhook_update(f->s, &w), 0);
    store_webhook_release(&w);
    n = claim(f, "d4", T0 + 5000, T0 + 6000, 10, &c);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(c[i].webhook_id, off);
        assert_int_equal(c[i].webhook_modified_at, T0 + 3000);
    }
    store_claims_free(c, n);
    assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
    assert_int_equal(at, T0 + 6000);

    assert_int_equal(OPS(f)->claim_due(f->s, "d5", T0, T0, 0, &c, &n), 0);
    assert_int_equal(n, 0);
}

/* Deliveries born leased (the group commit's hand-off to the local
 * dispatcher) come out of ingest as the claims claim_due would make of
 * them, rowid included; nobody claims them while the lease lasts, and what
 * was never sent comes back to claim_due when it ends. */
static void test_ingest_hands_off(void **state)
{
    struct fx *f = *state;
    if (!OPS(f)->ingest_hands_off)
        return; /* a backend without the hand-off */
    drain(f);
    char on[HERALD_ID_MAX], off[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "on", "[\"*\"]", true, T0, on);
    mk_webhook(f, f->acct, "off", "[\"*\"]", false, T0 + 1, off);
    struct store_webhook w = get_webhook(f, f->acct, on);
    int64_t on_modified = w.modified_at;
    store_webhook_release(&w);

    /* Two events for "on"; a test send to "off", which is disabled: its
     * delivery is parked, so no claim. */
    struct store_ingest e[3];
    ev_init(&e[0], f->acct, "post.published", "{\"i\":0}", T0 + 10);
    ev_init(&e[1], f->acct, "post.failed", "{\"i\":1}", T0 + 20);
    ev_init(&e[2], f->acct, "post.published", "{\"i\":2}", T0 + 30);
    e[2].only_webhook_id = off;
    struct store_claims leased = {0};
    for (int i = 0; i < 3; i++) {
        e[i].lease_owner = "node-a";
        e[i].lease_until = T0 + 1000;
        e[i].leased = &leased;
    }
    assert_int_equal(OPS(f)->ingest(f->s, e, 3), 0);
    assert_int_equal(e[2].deliveries, 1);
    struct store_delivery d = get_delivery(f, f->acct, e[0].first_delivery_id);
    assert_string_equal(d.status, "in_flight");

    assert_int_equal(leased.len, 2);
    struct store_claim *c = leased.v;
    assert_string_equal(c[0].delivery_id, e[0].first_delivery_id);
    assert_string_equal(c[0].event_id, e[0].id);
    assert_string_equal(c[0].webhook_id, on);
    assert_string_equal(c[0].account_id, f->acct);
    assert_string_equal(c[0].event_type, "post.published");
    assert_int_equal(c[0].attempts, 0);
    assert_int_equal(c[0].max_attempts, 4);
    assert_int_equal(c[0].event_created_at, T0 + 10);
    assert_int_equal(c[0].webhook_modified_at, on_modified);
    assert_int_equal(c[0].payload_len, 7);
    assert_memory_equal(c[0].payload, "{\"i\":0}", 8); /* NUL-terminated */
    assert_true(c[0].row > 0);
    assert_int_equal(c[0].lease_until, T0 + 1000); /* what a deferral of it must name */
    assert_string_equal(c[1].delivery_id, e[1].first_delivery_id);
    assert_string_equal(c[1].event_id, e[1].id);
    assert_int_equal(c[1].row, c[0].row + 1);

    /* Nobody claims them while leased; the owner records one. */
    struct store_claim *got;
    assert_int_equal(claim(f, "node-b", T0 + 500, T0 + 900, 10, &got), 0);
    struct store_result r = result_for(&c[0], 1, T0 + 40, STORE_SUCCEEDED, 200);
    assert_int_equal(OPS(f)->record(f->s, "node-a", &r, 1, NULL, 0), 0);
    d = get_delivery(f, f->acct, e[0].first_delivery_id);
    assert_string_equal(d.status, "succeeded");

    /* A hand-off claim names its row's lease: the owner can give it back. */
    struct store_deferral back = {.until = T0 + 800, .lease_until = c[1].lease_until};
    memcpy(back.delivery_id, c[1].delivery_id, sizeof back.delivery_id);
    assert_int_equal(OPS(f)->defer(f->s, "node-a", &back, 1, T0 + 50), 0);
    d = get_delivery(f, f->acct, c[1].delivery_id);
    assert_string_equal(d.status, "pending");
    assert_int_equal(d.next_attempt_at, T0 + 800);

    /* Past the lease, what was never sent is claimable as usual, and the
     * claim is the one ingest made. */
    size_t n = claim(f, "node-b", T0 + 1001, T0 + 2000, 10, &got);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].delivery_id, c[1].delivery_id);
    assert_int_equal(got[0].row, c[1].row);
    assert_int_equal(got[0].webhook_modified_at, c[1].webhook_modified_at);
    store_claims_free(got, n);
    store_claims_clear(&leased);
}

/* ---- record --------------------------------------------------------- */

static void test_record(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX], watcher[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "target", "[\"post.*\"]", true, T0, hook);
    mk_webhook(f, f->acct, "watcher", "[\"webhook.disabled\"]", true, T0, watcher);
    struct store_ingest ev = ingest1(f, f->acct, "post.published", T0 + 1);
    assert_int_equal(ev.deliveries, 1);

    /* Attempt 1 fails: pending again at the next time. */
    struct store_claim *c;
    assert_int_equal(claim(f, "d1", T0 + 10, T0 + 60 * SEC, 10, &c), 1);
    struct store_result r = result_for(&c[0], 1, T0 + 100, STORE_RETRY, 500);
    r.next_attempt_at = T0 + 5 * SEC;
    r.response_body = "oops\0bin";
    r.response_len = 8;
    assert_int_equal(OPS(f)->record(f->s, "d1", &r, 1, NULL, 0), 0);
    store_claims_free(c, 1);
    struct store_delivery d = get_delivery(f, f->acct, ev.first_delivery_id);
    assert_string_equal(d.status, "pending");
    assert_int_equal(d.attempts, 1);
    assert_int_equal(d.next_attempt_at, T0 + 5 * SEC);
    struct store_webhook w = get_webhook(f, f->acct, hook);
    assert_int_equal(w.last_execution_at, T0 + 150);
    assert_int_equal(w.failing_since, T0 + 100);
    store_webhook_release(&w);
    int64_t at;
    assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
    assert_int_equal(at, T0 + 5 * SEC);
    assert_int_equal(claim(f, "d1", T0 + 4 * SEC, T0 + 60 * SEC, 10, &c), 0);

    /* Attempt 2 fails for good: failing_since keeps the first failure. */
    assert_int_equal(claim(f, "d1", T0 + 5 * SEC, T0 + 60 * SEC, 10, &c), 1);
    assert_int_equal(c[0].attempts, 1);
    r = result_for(&c[0], 2, T0 + 6 * SEC, STORE_FAILED, 503);
    assert_int_equal(OPS(f)->record(f->s, "d1", &r, 1, NULL, 0), 0);
    store_claims_free(c, 1);
    d = get_delivery(f, f->acct, ev.first_delivery_id);
    assert_string_equal(d.status, "failed");
    assert_int_equal(d.attempts, 2);
    w = get_webhook(f, f->acct, hook);
    assert_int_equal(w.failing_since, T0 + 100);
    assert_int_equal(w.last_execution_at, T0 + 6 * SEC + 50);
    store_webhook_release(&w);
    assert_int_equal(claim(f, "d1", T0 + 100 * SEC, T0 + 200 * SEC, 10, &c), 0);

    /* A success clears failing_since; an older result never moves
     * last_execution_at back. */
    struct store_ingest ev2 = ingest1(f, f->acct, "post.failed", T0 + 7 * SEC);
    assert_int_equal(claim(f, "d1", T0 + 7 * SEC, T0 + 60 * SEC, 10, &c), 1);
    r = result_for(&c[0], 1, T0 + 2 * SEC, STORE_SUCCEEDED, 200);
    assert_int_equal(OPS(f)->record(f->s, "d1", &r, 1, NULL, 0), 0);
    store_claims_free(c, 1);
    d = get_delivery(f, f->acct, ev2.first_delivery_id);
    assert_string_equal(d.status, "succeeded");
    assert_int_equal(d.attempts, 1);
    w = get_webhook(f, f->acct, hook);
    assert_int_equal(w.failing_since, 0);
    assert_int_equal(w.last_execution_at, T0 + 6 * SEC + 50);
    store_webhook_release(&w);

    /* A result from a node that lost the lease is logged, and changes
     * nothing else. */
    struct store_ingest ev3 = ingest1(f, f->acct, "post.deleted", T0 + 8 * SEC);
    assert_int_equal(claim(f, "d1", T0 + 8 * SEC, T0 + 9 * SEC, 10, &c), 1);
    struct store_claim *c2;
    assert_int_equal(claim(f, "d2", T0 + 10 * SEC, T0 + 60 * SEC, 10, &c2), 1);
    r = result_for(&c[0], 1, T0 + 10 * SEC, STORE_SUCCEEDED, 200);
    assert_int_equal(OPS(f)->record(f->s, "d1", &r, 1, NULL, 0), 0);
    d = get_delivery(f, f->acct, ev3.first_delivery_id);
    assert_string_equal(d.status, "in_flight");
    assert_int_equal(d.attempts, 0);
    struct store_attempt_query aq = {.delivery_id = ev3.first_delivery_id, .count = 20};
    struct store_attempt *a;
    size_t n;
    int64_t total;
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &aq, &a, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_string_equal(a[0].id, r.attempt_id);
    store_attempts_free(a, n);
    store_claims_free(c, 1);

    /* One more for later, still waiting when the webhook is disabled. */
    struct store_ingest later = ingest1(f, f->acct, "post.published", T0 + 100 * SEC);
    assert_int_equal(later.deliveries, 1);

    /* The leaseholder's 410: the delivery fails, the webhook is disabled,
     * and the operational event is stored and fanned out in the same
     * transaction. */
    r = result_for(&c2[0], 1, T0 + 11 * SEC, STORE_FAILED, 410);
    r.disable_reason = "endpoint answered 410 Gone";
    struct store_ingest emit;
    ev_init(&emit, f->acct, "webhook.disabled", "{\"webhook_id\":\"x\"}", T0 + 11 * SEC);
    assert_int_equal(OPS(f)->record(f->s, "d2", &r, 1, &emit, 1), 0);
    store_claims_free(c2, 1);
    assert_int_equal(emit.deliveries, 1);
    d = get_delivery(f, f->acct, emit.first_delivery_id);
    assert_string_equal(d.webhook_id, watcher);
    struct store_event e;
    assert_int_equal(OPS(f)->event_get(f->s, f->acct, emit.id, &e), 0);
    store_event_release(&e);
    d = get_delivery(f, f->acct, ev3.first_delivery_id);
    assert_string_equal(d.status, "failed");
    w = get_webhook(f, f->acct, hook);
    assert_false(w.enabled);
    assert_string_equal(w.disabled_reason, "endpoint answered 410 Gone");
    assert_true(w.modified_at >= T0 + 11 * SEC);
    assert_int_equal(w.failing_since, T0 + 11 * SEC);
    store_webhook_release(&w);

    /* The disabled webhook gets no new deliveries and its waiting ones
     * are not claimed; the watcher's are. */
    struct store_ingest ev4 = ingest1(f, f->acct, "post.published", T0 + 12 * SEC);
    assert_int_equal(ev4.deliveries, 0);
    n = claim(f, "d3", T0 + 13 * SEC, FAR, 10, &c);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].delivery_id, emit.first_delivery_id);
    store_claims_free(c, n);
    assert_int_equal(claim(f, "d3", T0 + 200 * SEC, FAR, 10, &c), 0);
    /* Nothing can be claimed before the lease just taken expires. */
    assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
    assert_true(at >= FAR);
    d = get_delivery(f, f->acct, later.first_delivery_id);
    assert_string_equal(d.status, "pending");

    /* Re-enabled: the waiting delivery goes out, and the failure streak
     * starts over (else the 5-day rule would disable it again at once). */
    w = get_webhook(f, f->acct, hook);
    w.enabled = true;
    free(w.disabled_reason);
    w.disabled_reason = NULL;
    w.modified_at = T0 + 20 * SEC;
    assert_int_equal(OPS(f)->webhook_update(f->s, &w), 0);
    store_webhook_release(&w);
    w = get_webhook(f, f->acct, hook);
    assert_true(w.enabled);
    assert_null(w.disabled_reason);
    assert_int_equal(w.failing_since, 0);
    store_webhook_release(&w);
    assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
    assert_int_equal(at, T0 + 100 * SEC);
    n = claim(f, "d3", T0 + 100 * SEC, T0 + 200 * SEC, 10, &c);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].delivery_id, later.first_delivery_id);
    store_claims_free(c, n);

    /* A failed emit rolls the attempts back too. */
    int64_t before;
    struct store_stats st;
    assert_int_equal(OPS(f)->stats(f->s, &st), 0);
    before = st.attempts;
    struct store_claim fake = {.event_type = "post.published"};
    memcpy(fake.delivery_id, ev4.id, sizeof fake.delivery_id);
    memcpy(fake.event_id, ev4.id, sizeof fake.event_id);
    memcpy(fake.webhook_id, hook, sizeof fake.webhook_id);
    r = result_for(&fake, 1, T0 + 14 * SEC, STORE_FAILED, 500);
    ev_init(&emit, f->acct, "delivery.exhausted", "{}", T0 + 14 * SEC);
    memcpy(emit.id, ev.id, sizeof emit.id); /* clashes */
    assert_int_equal(OPS(f)->record(f->s, "d3", &r, 1, &emit, 1), HERALD_ECONFLICT);
    assert_int_equal(OPS(f)->stats(f->s, &st), 0);
    assert_int_equal(st.attempts, before);
}

/* ---- release, retry, recover ---------------------------------------- */

static void test_release(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"*\"]", true, T0, hook);
    struct store_ingest a = ingest1(f, f->acct, "post.published", T0);
    struct store_ingest b = ingest1(f, f->acct, "post.published", T0 + 1);
    struct store_ingest c = ingest1(f, f->acct, "post.published", T0 + 2);
    struct store_claim *k;
    assert_int_equal(claim(f, "node-a", T0 + 5, T0 + HOUR, 2, &k), 2);
    store_claims_free(k, 2);
    assert_int_equal(claim(f, "node-b", T0 + 5, T0 + HOUR, 2, &k), 1);
    store_claims_free(k, 1);

    assert_int_equal(OPS(f)->release(f->s, "node-a", T0 + 100), 0);
    struct store_delivery d = get_delivery(f, f->acct, a.first_delivery_id);
    assert_string_equal(d.status, "pending");
    assert_int_equal(d.next_attempt_at, T0 + 100);
    d = get_delivery(f, f->acct, c.first_delivery_id);
    assert_string_equal(d.status, "in_flight");

    size_t n = claim(f, "node-c", T0 + 100, T0 + HOUR, 10, &k);
    assert_int_equal(n, 2);
    assert_true(claimed(k, n, a.first_delivery_id));
    assert_true(claimed(k, n, b.first_delivery_id));
    store_claims_free(k, n);
    assert_int_equal(OPS(f)->release(f->s, "nobody", T0 + 100), 0);
}

/* A dispatcher gives back claims it cannot send soon: pending again, due
 * later, no attempt counted, and only its own leases. */
static void test_defer(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"*\"]", true, T0, hook);
    struct store_ingest a = ingest1(f, f->acct, "post.published", T0);
    struct store_ingest b = ingest1(f, f->acct, "post.published", T0 + 1);
    struct store_claim *k;
    assert_int_equal(claim(f, "node-a", T0 + 5, T0 + HOUR, 2, &k), 2);
    struct store_stats s0, s1;
    assert_int_equal(OPS(f)->stats(f->s, &s0), 0);

    assert_int_equal(k[0].lease_until, T0 + HOUR);
    store_claims_free(k, 2);
    struct store_deferral d[2] = {{.until = T0 + 30 * SEC, .lease_until = T0 + HOUR},
                                  {.until = T0 + 40 * SEC, .lease_until = T0 + HOUR}};
    memcpy(d[0].delivery_id, a.first_delivery_id, sizeof d[0].delivery_id);
    memcpy(d[1].delivery_id, b.first_delivery_id, sizeof d[1].delivery_id);
    assert_int_equal(OPS(f)->defer(f->s, "node-b", d, 2, T0 + 10), 0); /* not its leases */
    struct store_delivery x = get_delivery(f, f->acct, a.first_delivery_id);
    assert_string_equal(x.status, "in_flight");
    assert_int_equal(OPS(f)->defer(f->s, "node-a", d, 2, T0 + 10), 0);
    x = get_delivery(f, f->acct, a.first_delivery_id);
    assert_string_equal(x.status, "pending");
    assert_int_equal(x.attempts, 0);
    assert_int_equal(x.next_attempt_at, T0 + 30 * SEC);
    assert_int_equal(OPS(f)->stats(f->s, &s1), 0);
    assert_int_equal(s1.in_flight - s0.in_flight, -2);
    assert_int_equal(s1.pending - s0.pending, 0); /* pending counts in-flight too */

    int64_t at = 0;
    assert_int_equal(OPS(f)->next_due(f->s, &at), 0);
    assert_int_equal(at, T0 + 30 * SEC);
    assert_int_equal(claim(f, "node-c", T0 + 29 * SEC, T0 + HOUR, 10, &k), 0);
    size_t n = claim(f, "node-c", T0 + 30 * SEC, T0 + HOUR, 10, &k);
    assert_int_equal(n, 1);
    assert_string_equal(k[0].delivery_id, a.first_delivery_id);
    assert_int_equal(k[0].attempts, 0);
    store_claims_free(k, n);
}

/* A deferral that arrives after its lease ran out leaves the row alone,
 * even when the same node has claimed it again since: that claim's attempt
 * may be in flight, and a row made pending under it would be sent twice. */
static void test_defer_stale_lease(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"*\"]", true, T0, hook);
    struct store_ingest a = ingest1(f, f->acct, "post.published", T0);
    struct store_claim *k;
    assert_int_equal(claim(f, "node-a", T0 + 5, T0 + 10 * SEC, 1, &k), 1);
    store_claims_free(k, 1);
    /* The lease runs out and node-a claims the row again. */
    assert_int_equal(claim(f, "node-a", T0 + 11 * SEC, T0 + HOUR, 1, &k), 1);
    assert_string_equal(k[0].delivery_id, a.first_delivery_id);
    assert_int_equal(k[0].lease_until, T0 + HOUR);
    store_claims_free(k, 1);

    struct store_deferral late = {.until = T0 + 30 * SEC, .lease_until = T0 + 10 * SEC};
    memcpy(late.delivery_id, a.first_delivery_id, sizeof late.delivery_id);
    assert_int_equal(OPS(f)->defer(f->s, "node-a", &late, 1, T0 + 12 * SEC), 0);
    struct store_delivery x = get_delivery(f, f->acct, a.first_delivery_id);
    assert_string_equal(x.status, "in_flight");
    assert_int_equal(claim(f, "node-b", T0 + 40 * SEC, T0 + HOUR, 10, &k), 0);

    struct store_deferral current = late;
    current.lease_until = T0 + HOUR;
    assert_int_equal(OPS(f)->defer(f->s, "node-a", &current, 1, T0 + 12 * SEC), 0);
    x = get_delivery(f, f->acct, a.first_delivery_id);
    assert_string_equal(x.status, "pending");
    assert_int_equal(x.next_attempt_at, T0 + 30 * SEC);
}

static void test_delivery_retry(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"*\"]", true, T0, hook);
    struct store_ingest ev = ingest1(f, f->acct, "post.published", T0);
    const char *id = ev.first_delivery_id;

    struct store_claim *k;
    assert_int_equal(claim(f, "d1", T0 + 1, T0 + 1000, 10, &k), 1);
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, id, T0 + 500), HERALD_ECONFLICT);
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->other, id, T0 + 500), HERALD_ENOTFOUND);
    char missing[HERALD_ID_MAX];
    id_new(missing, "dlv", T0);
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, missing, T0), HERALD_ENOTFOUND);

    /* Succeeded deliveries can be sent again. */
    struct store_result r = result_for(&k[0], 1, T0 + 10, STORE_SUCCEEDED, 200);
    assert_int_equal(OPS(f)->record(f->s, "d1", &r, 1, NULL, 0), 0);
    store_claims_free(k, 1);
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, id, T0 + 2000), 0);
    struct store_delivery d = get_delivery(f, f->acct, id);
    assert_string_equal(d.status, "pending");
    assert_int_equal(d.next_attempt_at, T0 + 2000);
    assert_int_equal(d.attempts, 1);

    /* An expired lease is no longer in the way. */
    assert_int_equal(claim(f, "d1", T0 + 2000, T0 + 3000, 10, &k), 1);
    assert_int_equal(k[0].attempts, 1);
    store_claims_free(k, 1);
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, id, T0 + 3001), 0);
    assert_int_equal(claim(f, "d2", T0 + 3001, T0 + 4000, 10, &k), 1);
    store_claims_free(k, 1);
}

static void fail_delivery(struct fx *f, const char *owner, int64_t now)
{
    struct store_claim *k;
    assert_int_equal(claim(f, owner, now, now + 1000, 1, &k), 1);
    struct store_result r = result_for(&k[0], 1, now, STORE_FAILED, 500);
    assert_int_equal(OPS(f)->record(f->s, owner, &r, 1, NULL, 0), 0);
    store_claims_free(k, 1);
}

static void test_recover(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX], other_hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"post.published\"]", true, T0, hook);
    mk_webhook(f, f->acct, "o", "[\"post.failed\"]", true, T0, other_hook);
    struct store_ingest ev[4];
    for (int i = 0; i < 4; i++) {
        ev[i] = ingest1(f, f->acct, "post.published", T0 + 10 * i);
        fail_delivery(f, "d1", T0 + 10 * i);
    }
    struct store_ingest side = ingest1(f, f->acct, "post.failed", T0 + 15);
    fail_delivery(f, "d1", T0 + 15);

    int64_t count = -1;
    assert_int_equal(OPS(f)->recover(f->s, f->other, hook, T0, T0 + 100, T0 + 500, &count),
                     HERALD_ENOTFOUND);
    assert_int_equal(count, 0);
    assert_int_equal(OPS(f)->recover(f->s, f->acct, hook, T0 + 10, T0 + 30, T0 + 500, &count), 0);
    assert_int_equal(count, 2);
    const char *expect[4] = {"failed", "pending", "pending", "failed"};
    for (int i = 0; i < 4; i++) {
        struct store_delivery d = get_delivery(f, f->acct, ev[i].first_delivery_id);
        assert_string_equal(d.status, expect[i]);
        if (i == 1)
            assert_int_equal(d.next_attempt_at, T0 + 500);
    }
    struct store_delivery d = get_delivery(f, f->acct, side.first_delivery_id);
    assert_string_equal(d.status, "failed");

    struct store_claim *k;
    size_t n = claim(f, "d2", T0 + 500, T0 + 1000, 10, &k);
    assert_int_equal(n, 2);
    assert_true(claimed(k, n, ev[1].first_delivery_id));
    assert_true(claimed(k, n, ev[2].first_delivery_id));
    store_claims_free(k, n);
    /* Nothing failed left in the window. */
    assert_int_equal(OPS(f)->recover(f->s, f->acct, hook, T0 + 10, T0 + 30, T0 + 600, &count), 0);
    assert_int_equal(count, 0);
}

/* ---- logs and lists ------------------------------------------------- */

static void test_attempt_list(void **state)
{
    struct fx *f = *state;
    drain(f);
    char h1[HERALD_ID_MAX], h2[HERALD_ID_MAX], foreign[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h1", "[\"*\"]", true, T0, h1);
    mk_webhook(f, f->acct, "h2", "[\"analytics.updated\"]", true, T0 + 1, h2);
    mk_webhook(f, f->other, "foreign", "[\"*\"]", true, T0, foreign);
    static const char payload[] = "{\"post\":{\"id\":7}}";
    struct store_ingest e1, e2, e3;
    ev_init(&e1, f->acct, "post.published", payload, T0 + 1);
    assert_int_equal(OPS(f)->ingest(f->s, &e1, 1), 0);
    e2 = ingest1(f, f->acct, "analytics.updated", T0 + 2);
    e3 = ingest1(f, f->other, "post.published", T0 + 3);
    assert_int_equal(e1.deliveries + e2.deliveries + e3.deliveries, 4);

    /* h1: e1 fails at +100, succeeds at +300; e2 succeeds at +200.
     * h2: e2 fails at +150. other: e3 succeeds at +250. */
    struct store_claim *k;
    size_t n = claim(f, "d1", T0 + 10, T0 + HOUR, 10, &k);
    assert_int_equal(n, 4);
    struct store_result r[4];
    char first_fail[HERALD_ID_MAX] = "";
    for (size_t i = 0; i < n; i++) {
        bool is_e1 = strcmp(k[i].event_id, e1.id) == 0;
        bool is_h2 = strcmp(k[i].webhook_id, h2) == 0;
        bool is_e3 = strcmp(k[i].event_id, e3.id) == 0;
        int64_t t = is_e1 ? 100 : is_h2 ? 150 : is_e3 ? 250 : 200;
        bool ok = !is_e1 && !is_h2;
        r[i] = result_for(&k[i], 1, T0 + t, ok ? STORE_SUCCEEDED : STORE_RETRY, ok ? 200 : 500);
        r[i].next_attempt_at = T0 + 300;
        r[i].duration_ms = t;
        if (is_e1)
            memcpy(first_fail, r[i].attempt_id, HERALD_ID_MAX);
    }
    assert_int_equal(OPS(f)->record(f->s, "d1", r, n, NULL, 0), 0);
    store_claims_free(k, n);
    n = claim(f, "d1", T0 + 300, T0 + HOUR, 10, &k);
    assert_int_equal(n, 2); /* the two retries */
    for (size_t i = 0; i < n; i++) {
        bool is_e1 = strcmp(k[i].event_id, e1.id) == 0;
        r[i] = result_for(&k[i], 2, T0 + (is_e1 ? 300 : 310),
                          is_e1 ? STORE_SUCCEEDED : STORE_FAILED, is_e1 ? 201 : 502);
    }
    assert_int_equal(OPS(f)->record(f->s, "d1", r, n, NULL, 0), 0);
    store_claims_free(k, n);

    struct store_attempt_query q = {.webhook_id = h1, .count = 20};
    struct store_attempt *a;
    int64_t total;
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &q, &a, &n, &total), 0);
    assert_int_equal(total, 3);
    assert_int_equal(n, 3);
    /* Newest first. */
    assert_int_equal(a[0].started_at, T0 + 300);
    assert_int_equal(a[0].response_code, 201);
    assert_int_equal(a[0].n, 2);
    assert_string_equal(a[0].error, "");
    assert_int_equal(a[1].started_at, T0 + 200);
    assert_int_equal(a[2].started_at, T0 + 100);
    assert_string_equal(a[2].id, first_fail);
    assert_string_equal(a[2].error, "http");
    assert_int_equal(a[2].response_code, 500);
    assert_int_equal(a[2].duration_ms, 100);
    assert_int_equal(a[2].n, 1);
    assert_string_equal(a[2].event_id, e1.id);
    assert_string_equal(a[2].webhook_id, h1);
    assert_string_equal(a[2].delivery_id, e1.first_delivery_id);
    assert_string_equal(a[2].event_type, "post.published");
    assert_string_equal(a[2].payload, payload);
    assert_int_equal(a[2].event_created_at, T0 + 1);
    assert_string_equal(a[2].response_body, "ok");
    assert_string_equal(a[2].request_headers, "{\"webhook-id\":\"x\"}");
    store_attempts_free(a, n);

    q.status = 1;
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &q, &a, &n, &total), 0);
    assert_int_equal(total, 2);
    store_attempts_free(a, n);
    q.status = 2;
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &q, &a, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_string_equal(a[0].id, first_fail);
    store_attempts_free(a, n);
    q.status = 0;
    q.event_type = "analytics.updated";
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &q, &a, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_int_equal(a[0].started_at, T0 + 200);
    store_attempts_free(a, n);
    q.event_type = NULL;
    q.since = T0 + 100; /* inclusive */
    q.until = T0 + 300; /* exclusive */
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &q, &a, &n, &total), 0);
    assert_int_equal(total, 2);
    store_attempts_free(a, n);
    q.since = q.until = 0;
    q.count = 1;
    q.page = 1;
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &q, &a, &n, &total), 0);
    assert_int_equal(total, 3);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].started_at, T0 + 200);
    store_attempts_free(a, n);

    /* By event (both webhooks) and by delivery. */
    struct store_attempt_query qe = {.event_id = e2.id, .count = 20};
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &qe, &a, &n, &total), 0);
    assert_int_equal(total, 3); /* h1 once, h2 twice */
    assert_int_equal(a[0].started_at, T0 + 310);
    store_attempts_free(a, n);
    qe.webhook_id = h2;
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &qe, &a, &n, &total), 0);
    assert_int_equal(total, 2);
    store_attempts_free(a, n);
    struct store_attempt_query qd = {.delivery_id = e1.first_delivery_id, .count = 20};
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &qd, &a, &n, &total), 0);
    assert_int_equal(total, 2);
    store_attempts_free(a, n);

    /* Another account's webhook, event or delivery is a 404. */
    struct store_attempt_query qx = {.webhook_id = foreign, .count = 20};
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &qx, &a, &n, &total), HERALD_ENOTFOUND);
    qx = (struct store_attempt_query){.event_id = e3.id, .count = 20};
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &qx, &a, &n, &total), HERALD_ENOTFOUND);
    qx = (struct store_attempt_query){.delivery_id = e3.first_delivery_id, .count = 20};
    assert_int_equal(OPS(f)->attempt_list(f->s, f->acct, &qx, &a, &n, &total), HERALD_ENOTFOUND);
    qx = (struct store_attempt_query){.webhook_id = foreign, .count = 20};
    assert_int_equal(OPS(f)->attempt_list(f->s, f->other, &qx, &a, &n, &total), 0);
    assert_int_equal(total, 1);
    store_attempts_free(a, n);

    /* The overview series: (started, duration, ok) are h1 (+100, 100, no),
     * h2 (+150, 150, no), h1 (+200, 200, yes), h1 (+300, 50, yes),
     * h2 (+310, 50, no); the other account's (+250, 250, yes) stays out. */
    struct store_bucket *bk;
    assert_int_equal(OPS(f)->attempt_series(f->s, f->acct, T0, 200, &bk, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(bk[0].start, T0);
    assert_int_equal(bk[0].attempts, 2);
    assert_int_equal(bk[0].succeeded, 0);
    assert_int_equal(bk[0].total_ms, 250);
    assert_int_equal(bk[0].max_ms, 150);
    assert_int_equal(bk[1].start, T0 + 200);
    assert_int_equal(bk[1].attempts, 3);
    assert_int_equal(bk[1].succeeded, 2);
    assert_int_equal(bk[1].total_ms, 300);
    assert_int_equal(bk[1].max_ms, 200);
    free(bk);
    assert_int_equal(OPS(f)->attempt_series(f->s, f->acct, T0 + 150, 200, &bk, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(bk[0].attempts, 1);
    assert_int_equal(bk[0].total_ms, 150);
    free(bk);
    assert_int_equal(OPS(f)->attempt_series(f->s, f->acct, T0 + 400, 200, &bk, &n), 0);
    assert_int_equal(n, 0); /* empty buckets are omitted */
    free(bk);
    assert_int_equal(OPS(f)->attempt_series(f->s, f->other, T0, 1000, &bk, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(bk[0].start, T0);
    assert_int_equal(bk[0].attempts, 1);
    assert_int_equal(bk[0].succeeded, 1);
    free(bk);
    assert_int_equal(OPS(f)->attempt_series(f->s, f->acct, T0, 0, &bk, &n), HERALD_EINVAL);
}

static void test_event_list(void **state)
{
    struct fx *f = *state;
    struct store_ingest e[5];
    const char *types[5] = {"post.published", "post.failed", "post.published", "newLead",
                            "post.published"};
    for (int i = 0; i < 5; i++)
        e[i] = ingest1(f, f->acct, types[i], T0 + 10 * i);
    ingest1(f, f->other, "post.published", T0 + 5);

    struct store_event_query q = {.count = 20};
    struct store_event *v;
    size_t n;
    int64_t total;
    assert_int_equal(OPS(f)->event_list(f->s, f->acct, &q, &v, &n, &total), 0);
    assert_int_equal(total, 5);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++) /* newest first */
        assert_string_equal(v[i].id, e[4 - i].id);
    assert_int_equal(v[0].payload_len, 7);
    assert_string_equal(v[0].payload, "{\"n\":1}");
    store_events_free(v, n);

    q.type = "post.published";
    assert_int_equal(OPS(f)->event_list(f->s, f->acct, &q, &v, &n, &total), 0);
    assert_int_equal(total, 3);
    store_events_free(v, n);
    q.since = T0 + 10;
    q.until = T0 + 40;
    assert_int_equal(OPS(f)->event_list(f->s, f->acct, &q, &v, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_string_equal(v[0].id, e[2].id);
    store_events_free(v, n);
    q.type = NULL;
    q.count = 2;
    q.page = 1;
    assert_int_equal(OPS(f)->event_list(f->s, f->acct, &q, &v, &n, &total), 0);
    assert_int_equal(total, 3);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, e[1].id);
    store_events_free(v, n);
    q.page = -1;
    assert_int_equal(OPS(f)->event_list(f->s, f->acct, &q, &v, &n, &total), HERALD_EINVAL);
}

static void test_stats(void **state)
{
    struct fx *f = *state;
    drain(f);
    struct store_stats s0, s1;
    assert_int_equal(OPS(f)->stats(f->s, &s0), 0);
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"*\"]", true, T0, hook);
    for (int i = 0; i < 4; i++)
        ingest1(f, f->acct, "post.published", T0 + i);
    struct store_claim *k;
    assert_int_equal(claim(f, "d1", T0 + 10, T0 + HOUR, 3, &k), 3);
    struct store_result r[2] = {
        result_for(&k[0], 1, T0 + 20, STORE_SUCCEEDED, 200),
        result_for(&k[1], 1, T0 + 20, STORE_FAILED, 500),
    };
    assert_int_equal(OPS(f)->record(f->s, "d1", r, 2, NULL, 0), 0);
    char failed_id[HERALD_ID_MAX];
    memcpy(failed_id, k[1].delivery_id, sizeof failed_id);
    store_claims_free(k, 3);
    assert_int_equal(OPS(f)->stats(f->s, &s1), 0);
    assert_int_equal(s1.events - s0.events, 4);
    assert_int_equal(s1.pending - s0.pending, 2); /* one pending + one in flight */
    assert_int_equal(s1.in_flight - s0.in_flight, 1);
    assert_int_equal(s1.succeeded - s0.succeeded, 1);
    assert_int_equal(s1.failed - s0.failed, 1);
    assert_int_equal(s1.attempts - s0.attempts, 2);

    /* The counts follow every other way a delivery changes status. */
    assert_int_equal(OPS(f)->release(f->s, "d1", T0 + 30), 0);
    assert_int_equal(OPS(f)->stats(f->s, &s1), 0);
    assert_int_equal(s1.pending - s0.pending, 2);
    assert_int_equal(s1.in_flight - s0.in_flight, 0);
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, failed_id, T0 + 40), 0);
    assert_int_equal(OPS(f)->stats(f->s, &s1), 0);
    assert_int_equal(s1.pending - s0.pending, 3);
    assert_int_equal(s1.failed - s0.failed, 0);
    assert_int_equal(OPS(f)->webhook_delete(f->s, f->acct, hook, T0 + 50), 0);
    assert_int_equal(OPS(f)->stats(f->s, &s1), 0);
    assert_int_equal(s1.pending - s0.pending, 0);
    assert_int_equal(s1.failed - s0.failed, 3);
    assert_int_equal(s1.succeeded - s0.succeeded, 1);
}

/* What stats should have moved by since a first reading; pending here is
 * pending only (stats' includes in_flight). */
struct tally {
    int64_t events, pending, in_flight, succeeded, failed, attempts;
};

static void check_stats(struct fx *f, const struct store_stats *s0, const struct tally *t, int line)
{
    struct store_stats s;
    assert_int_equal(OPS(f)->stats(f->s, &s), 0);
    struct store_stats d = {
        .events = s.events - s0->events,
        .pending = s.pending - s0->pending,
        .in_flight = s.in_flight - s0->in_flight,
        .succeeded = s.succeeded - s0->succeeded,
        .failed = s.failed - s0->failed,
        .attempts = s.attempts - s0->attempts,
    };
    if (d.events != t->events || d.pending != t->pending + t->in_flight ||
        d.in_flight != t->in_flight || d.succeeded != t->succeeded || d.failed != t->failed ||
        d.attempts != t->attempts)
        fail_msg("line %d: stats moved by events %lld pending %lld in_flight %lld succeeded %lld"
                 " failed %lld attempts %lld; expected %lld %lld %lld %lld %lld %lld",
                 line, (long long)d.events, (long long)d.pending, (long long)d.in_flight,
                 (long long)d.succeeded, (long long)d.failed, (long long)d.attempts,
                 (long long)t->events, (long long)(t->pending + t->in_flight),
                 (long long)t->in_flight, (long long)t->succeeded, (long long)t->failed,
                 (long long)t->attempts);
}
#define CHECK_STATS() check_stats(f, &s0, &t, __LINE__)

/* Every way a delivery changes status, and every insert of an event or an
 * attempt, moves stats by exactly what it did: the PostgreSQL backend
 * keeps them in a table of its own, SQLite partly too. */
static void test_stats_follow_every_transition(void **state)
{
    struct fx *f = *state;
    drain(f);
    struct store_stats s0;
    assert_int_equal(OPS(f)->stats(f->s, &s0), 0);
    struct tally t = {0};
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"post.*\"]", true, T0, hook);

    /* Ingest: a pending delivery per event; a repeated key adds nothing. */
    for (int i = 0; i < 3; i++)
        ingest1(f, f->acct, "post.published", T0 + i);
    t.events += 3;
    t.pending += 3;
    CHECK_STATS();
    struct store_ingest key;
    ev_init(&key, f->acct, "post.published", "{}", T0 + 3);
    key.idempotency_key = "stats-key";
    assert_int_equal(OPS(f)->ingest(f->s, &key, 1), 0);
    t.events++;
    t.pending++;
    CHECK_STATS();
    ev_init(&key, f->acct, "post.published", "{}", T0 + 4);
    key.idempotency_key = "stats-key";
    assert_int_equal(OPS(f)->ingest(f->s, &key, 1), 0);
    assert_true(key.duplicate);
    CHECK_STATS();

    /* Born leased (the group commit's hand-off), where the backend has it. */
    if (OPS(f)->ingest_hands_off) {
        struct store_claims leased = {0};
        ev_init(&key, f->acct, "post.published", "{}", T0 + 5);
        key.lease_owner = "stats-d0";
        key.lease_until = FAR;
        key.leased = &leased;
        assert_int_equal(OPS(f)->ingest(f->s, &key, 1), 0);
        store_claims_clear(&leased);
        t.events++;
        t.in_flight++;
        CHECK_STATS();
    }

    /* A claim of pending rows moves them; past their lease, a claim of
     * the same rows (still in flight) moves only the pending ones. */
    struct store_claim *k1, *k2, *k;
    assert_int_equal(claim(f, "stats-d1", T0 + 10, T0 + 20, 2, &k1), 2);
    t.pending -= 2;
    t.in_flight += 2;
    CHECK_STATS();
    assert_int_equal(claim(f, "stats-d2", T0 + 30, T0 + HOUR, 4, &k2), 4);
    assert_true(claimed(k2, 4, k1[0].delivery_id));
    assert_true(claimed(k2, 4, k1[1].delivery_id));
    t.pending -= 2;
    t.in_flight += 2;
    CHECK_STATS();

    /* One result of each outcome. */
    struct store_result r[3] = {
        result_for(&k2[0], 1, T0 + 40, STORE_SUCCEEDED, 200),
        result_for(&k2[1], 1, T0 + 40, STORE_RETRY, 500),
        result_for(&k2[2], 1, T0 + 40, STORE_FAILED, 500),
    };
    r[1].next_attempt_at = T0 + 50;
    assert_int_equal(OPS(f)->record(f->s, "stats-d2", r, 3, NULL, 0), 0);
    t.in_flight -= 3;
    t.succeeded++;
    t.pending++;
    t.failed++;
    t.attempts += 3;
    CHECK_STATS();
    /* A late result under a lost lease: its attempt is logged, no move. */
    size_t late = strcmp(k1[0].delivery_id, k2[3].delivery_id) == 0 ? 0 : 1;
    struct store_result lost = result_for(&k1[late], 1, T0 + 41, STORE_SUCCEEDED, 200);
    assert_int_equal(OPS(f)->record(f->s, "stats-d1", &lost, 1, NULL, 0), 0);
    t.attempts++;
    CHECK_STATS();
    store_claims_free(k1, 2);

    /* Deferred: pending again. */
    struct store_deferral back = {.until = T0 + 2 * HOUR, .lease_until = k2[3].lease_until};
    memcpy(back.delivery_id, k2[3].delivery_id, sizeof back.delivery_id);
    assert_int_equal(OPS(f)->defer(f->s, "stats-d2", &back, 1, T0 + 45), 0);
    t.in_flight--;
    t.pending++;
    CHECK_STATS();

    /* Released: pending again (the retry, due at T0 + 50, is claimed).
     * Owners are this test's own: other tests leave rows leased. */
    assert_int_equal(claim(f, "stats-d3", T0 + 60, T0 + HOUR, 10, &k), 1);
    store_claims_free(k, 1);
    t.pending--;
    t.in_flight++;
    CHECK_STATS();
    assert_int_equal(OPS(f)->release(f->s, "stats-d3", T0 + 70), 0);
    t.in_flight--;
    t.pending++;
    CHECK_STATS();

    /* Resent: from failed, from succeeded, and a pending one (no move). */
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, k2[2].delivery_id, T0 + 80), 0);
    t.failed--;
    t.pending++;
    CHECK_STATS();
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, k2[0].delivery_id, T0 + 80), 0);
    t.succeeded--;
    t.pending++;
    CHECK_STATS();
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, k2[1].delivery_id, T0 + 80), 0);
    CHECK_STATS();
    store_claims_free(k2, 4);

    /* Every due row fails; recover makes them pending again. */
    size_t n = claim(f, "stats-d4", T0 + 100, T0 + HOUR, 10, &k);
    assert_int_equal(n, 3);
    t.pending -= 3;
    t.in_flight += 3;
    CHECK_STATS();
    struct store_result fr[3];
    for (size_t i = 0; i < n; i++)
        fr[i] = result_for(&k[i], 2, T0 + 110, STORE_FAILED, 500);
    assert_int_equal(OPS(f)->record(f->s, "stats-d4", fr, n, NULL, 0), 0);
    store_claims_free(k, n);
    t.in_flight -= 3;
    t.failed += 3;
    t.attempts += 3;
    CHECK_STATS();
    int64_t count = 0;
    assert_int_equal(OPS(f)->recover(f->s, f->acct, hook, T0, T0 + HOUR, T0 + 200, &count), 0);
    assert_int_equal(count, 3);
    t.failed -= 3;
    t.pending += 3;
    CHECK_STATS();

    /* Disabling parks and enabling unparks: no status moves. */
    struct store_webhook w = get_webhook(f, f->acct, hook);
    w.enabled = false;
    assert_int_equal(OPS(f)->webhook_update(f->s, &w), 0);
    CHECK_STATS();
    w.enabled = true;
    assert_int_equal(OPS(f)->webhook_update(f->s, &w), 0);
    store_webhook_release(&w);
    CHECK_STATS();

    /* Deleting the webhook fails its pending and in-flight deliveries. */
    assert_int_equal(claim(f, "stats-d5", T0 + 300, T0 + HOUR, 1, &k), 1);
    store_claims_free(k, 1);
    t.pending--;
    t.in_flight++;
    CHECK_STATS();
    assert_true(t.pending > 0 && t.in_flight > 0);
    assert_int_equal(OPS(f)->webhook_delete(f->s, f->acct, hook, T0 + 400), 0);
    t.failed += t.pending + t.in_flight;
    t.pending = t.in_flight = 0;
    CHECK_STATS();
}

static void test_webhook_delete_cancels(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX], keep[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "gone", "[\"post.published\"]", true, T0, hook);
    struct store_ingest done_ev = ingest1(f, f->acct, "post.published", T0);
    struct store_claim *k;
    assert_int_equal(claim(f, "d1", T0 + 1, T0 + HOUR, 1, &k), 1);
    struct store_result r = result_for(&k[0], 1, T0 + 2, STORE_SUCCEEDED, 200);
    assert_int_equal(OPS(f)->record(f->s, "d1", &r, 1, NULL, 0), 0);
    store_claims_free(k, 1);
    mk_webhook(f, f->acct, "keep", "[\"post.published\"]", true, T0, keep);
    struct store_ingest flying = ingest1(f, f->acct, "post.published", T0 + 3);
    assert_int_equal(claim(f, "d1", T0 + 4, T0 + HOUR, 10, &k), 2);
    store_claims_free(k, 2);
    struct store_ingest waiting = ingest1(f, f->acct, "post.published", T0 + 5);

    assert_int_equal(OPS(f)->webhook_delete(f->s, f->acct, hook, T0 + 6), 0);
    struct store_delivery *d;
    size_t n;
    const struct store_ingest *evs[3] = {&done_ev, &flying, &waiting};
    for (int e = 0; e < 3; e++) {
        assert_int_equal(OPS(f)->delivery_list_for_event(f->s, f->acct, evs[e]->id, &d, &n), 0);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(d[i].webhook_id, hook) == 0)
                assert_string_equal(d[i].status, e == 0 ? "succeeded" : "failed");
            else
                assert_string_not_equal(d[i].status, "failed");
        }
        free(d);
    }
    /* Its deliveries cannot be resent: there is nowhere to send them. */
    char gone_dlv[HERALD_ID_MAX] = "";
    assert_int_equal(OPS(f)->delivery_list_for_event(f->s, f->acct, waiting.id, &d, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].webhook_id, hook) == 0)
            memcpy(gone_dlv, d[i].id, HERALD_ID_MAX);
    free(d);
    assert_true(id_valid(gone_dlv, "dlv"));
    assert_int_equal(OPS(f)->delivery_retry(f->s, f->acct, gone_dlv, T0 + 7), HERALD_ENOTFOUND);

    /* Only the surviving webhook's delivery is still claimable. */
    size_t got = claim(f, "d2", T0 + 10, T0 + HOUR, 10, &k);
    assert_int_equal(got, 1);
    assert_string_equal(k[0].webhook_id, keep);
    store_claims_free(k, got);
}

/* ---- reopen, concurrency -------------------------------------------- */

static void test_reopen(void **state)
{
    struct fx *f = *state;
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "persist", "[\"*\"]", true, T0, hook);
    struct store_ingest ev = ingest1(f, f->acct, "post.published", T0 + 1);
    for (int round = 0; round < 2; round++) {
        store_close(f->s);
        f->s = NULL;
        assert_int_equal(open_store(f), 0); /* migrations are idempotent */
        struct store_webhook w = get_webhook(f, f->acct, hook);
        assert_string_equal(w.name, "persist");
        store_webhook_release(&w);
        struct store_delivery d = get_delivery(f, f->acct, ev.first_delivery_id);
        assert_string_equal(d.status, "pending");
        assert_int_equal(count_events(f, f->acct), 1);
    }
    if (!f->shared) {
        /* The database and its folder are private. */
        char path[600];
        struct stat sb;
        snprintf(path, sizeof path, "%s/var/db/herald.db", f->dir);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 077, 0);
    }
}

struct writer {
    struct fx *f;
    int base;
    int rc;
};

static void *write_events(void *arg)
{
    struct writer *w = arg;
    for (int i = 0; i < 50 && w->rc == 0; i++) {
        struct store_ingest it;
        ev_init(&it, w->f->acct, "post.published", "{}", T0 + w->base + i);
        w->rc = w->f->s->ops->ingest(w->f->s, &it, 1);
        if (w->rc == 0 && it.deliveries != 1)
            w->rc = -1;
    }
    return NULL;
}

/* The pool serves threads at once; every commit lands. */
static void test_concurrent_ingest(void **state)
{
    struct fx *f = *state;
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"*\"]", true, T0, hook);
    pthread_t th[6];
    struct writer w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct writer){.f = f, .base = i * 100};
        assert_int_equal(pthread_create(&th[i], NULL, write_events, &w[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    assert_int_equal(count_events(f, f->acct), 300);
}

struct claimer {
    struct fx *f;
    char owner[16];
    char (*ids)[HERALD_ID_MAX];
    size_t n, cap;
    int rc;
};

static void *claim_all(void *arg)
{
    struct claimer *k = arg;
    for (;;) {
        struct store_claim *c;
        size_t n;
        k->rc = k->f->s->ops->claim_due(k->f->s, k->owner, T0 + HOUR, FAR, 7, &c, &n);
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

/* Dispatchers claiming at once never get the same delivery twice. */
static void test_concurrent_claim(void **state)
{
    struct fx *f = *state;
    drain(f);
    char hook[HERALD_ID_MAX];
    mk_webhook(f, f->acct, "h", "[\"*\"]", true, T0, hook);
    struct store_ingest b[100];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++)
            ev_init(&b[i], f->acct, "post.published", "{}", T0 + round * 100 + i);
        assert_int_equal(OPS(f)->ingest(f->s, b, 100), 0);
    }
    enum { THREADS = 3, CAP = 400 };
    char(*ids)[HERALD_ID_MAX] = calloc(THREADS * CAP, HERALD_ID_MAX);
    assert_non_null(ids);
    pthread_t th[THREADS];
    struct claimer k[THREADS];
    for (int i = 0; i < THREADS; i++) {
        k[i] = (struct claimer){.f = f, .ids = ids + i * CAP, .cap = CAP};
        snprintf(k[i].owner, sizeof k[i].owner, "node-%d", i);
        assert_int_equal(pthread_create(&th[i], NULL, claim_all, &k[i]), 0);
    }
    size_t total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(k[i].rc, 0);
        memmove(ids + total, k[i].ids, k[i].n * HERALD_ID_MAX);
        total += k[i].n;
    }
    assert_int_equal(total, 300);
    qsort(ids, total, HERALD_ID_MAX, cmp_id);
    for (size_t i = 1; i < total; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

/* A second handle on the same database (the CLI beside a server) sees
 * and makes changes. */
static void test_two_handles(void **state)
{
    struct fx *f = *state;
    struct store *s2;
    assert_int_equal(store_open(f->url, 2, &s2), 0);
    char acct[HERALD_ID_MAX];
    mk_account(s2, acct, "from the cli", T0);
    struct store_account a;
    assert_int_equal(OPS(f)->account_get(f->s, acct, &a), 0);
    assert_string_equal(a.name, "from the cli");
    char hook[HERALD_ID_MAX];
    mk_webhook(f, acct, "h", "[\"*\"]", true, T0, hook);
    struct store_webhook w;
    assert_int_equal(s2->ops->webhook_get(s2, acct, hook, &w), 0);
    store_webhook_release(&w);
    store_close(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_fanout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fanout_follows_webhook_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_only_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_hands_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivery_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempt_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_follow_every_transition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defer_stale_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_delete_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_ingest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
