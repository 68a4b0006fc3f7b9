/*
 * test_store_ingest_rows.c — one ingest call larger than the backends'
 * internal row batching (SQLite writes events and deliveries with
 * multi-row INSERTs of 16): every event and delivery is stored, the
 * counts and first delivery ids handed back are right, an idempotency key
 * repeated inside the same call finds the earlier event (its row must be
 * written before the lookup), a test send in the middle sees its webhook,
 * and a conflict in a late row rolls the whole call back.
 *
 * Runs against a temporary SQLite database, or HERALD_TEST_DB.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/id.h"
#include "store/store.h"

#define T0 1700000000000LL
/* More than two full row batches of events, and many of deliveries (two
 * webhooks match each event), with a remainder. */
#define N 45

struct fx {
    char dir[256]; /* temporary directory, "" with HERALD_TEST_DB */
    struct store *s;
    char acct[HERALD_ID_MAX];
    char hooks[2][HERALD_ID_MAX];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void mk_webhook(struct fx *f, const char *name, const char *events, int64_t t,
                       char id[HERALD_ID_MAX])
{
    struct store_webhook w = {0};
    id_new(w.id, "wh", t);
    snprintf(w.account_id, sizeof w.account_id, "%s", f->acct);
    w.name = (char *)name;
    w.description = "";
    w.url = "https://example.com/hook";
    snprintf(w.method, sizeof w.method, "POST");
    snprintf(w.content_type, sizeof w.content_type, "application/json");
    w.events = (char *)events;
    w.headers = "{}";
    w.max_attempts = 4;
    w.max_in_flight = 8;
    w.enabled = true;
    snprintf(w.kind, sizeof w.kind, "webhook");
    snprintf(w.signature_scheme, sizeof w.signature_scheme, "standard");
    w.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w.created_at = t;
    w.modified_at = t;
    assert_int_equal(f->s->ops->webhook_create(f->s, &w), 0);
    memcpy(id, w.id, HERALD_ID_MAX);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char url[512];
    const char *env = getenv("HERALD_TEST_DB");
    if (env && *env) {
        snprintf(url, sizeof url, "%s", env);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof f->dir, "%s/herald-rows-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        snprintf(url, sizeof url, "sqlite:%s/herald.db", f->dir);
    }
    assert_int_equal(store_open(url, 2, &f->s), 0);
    /* A fresh account per run: a shared database keeps other tests' rows. */
    struct store_account a = {.created_at = T0};
    id_new(a.id, "acct", T0);
    snprintf(a.name, sizeof a.name, "rows");
    assert_int_equal(f->s->ops->account_create(f->s, &a), 0);
    memcpy(f->acct, a.id, HERALD_ID_MAX);
    mk_webhook(f, "all", "[\"*\"]", T0, f->hooks[0]);
    mk_webhook(f, "posts", "[\"post.*\"]", T0, f->hooks[1]);
    *state = f;
    return 0;
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

static void ev_init(struct store_ingest *it, const char *acct, int64_t t)
{
    memset(it, 0, sizeof *it);
    it->account_id = acct;
    it->type = "post.published";
    it->data = "{\"n\":1}";
    it->data_len = strlen(it->data);
    id_new(it->id, "evt", t);
    it->created_at = t;
}

static int64_t count_events(struct fx *f)
{
    struct store_event_query q = {.page = 0, .count = 1};
    struct store_event *e;
    size_t n;
    int64_t total;
    assert_int_equal(f->s->ops->event_list(f->s, f->acct, &q, &e, &n, &total), 0);
    store_events_free(e, n);
    return total;
}

/* The event is stored with deliveries to exactly `want` webhooks, one of
 * them first_id. */
static void check_deliveries(struct fx *f, const char *event_id, const char *first_id, size_t want)
{
    struct store_event e = {0};
    assert_int_equal(f->s->ops->event_get(f->s, f->acct, event_id, &e), 0);
    store_event_release(&e);
    struct store_delivery *dl = NULL;
    size_t n = 0;
    assert_int_equal(f->s->ops->delivery_list_for_event(f->s, f->acct, event_id, &dl, &n), 0);
    assert_int_equal(n, want);
    bool first_found = false;
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(dl[i].event_id, event_id);
        /* On a shared database (HERALD_TEST_DB) another test's claim_due
         * may have leased the delivery already. */
        bool shared = f->dir[0] == '\0';
        assert_true(strcmp(dl[i].status, "pending") == 0 ||
                    (shared && strcmp(dl[i].status, "in_flight") == 0));
        first_found |= strcmp(dl[i].id, first_id) == 0;
    }
    assert_true(first_found);
    if (want == 2)
        assert_string_not_equal(dl[0].webhook_id, dl[1].webhook_id);
    free(dl);
}

static void test_large_call(void **state)
{
    struct fx *f = *state;
    int64_t before = count_events(f);
    struct store_ingest b[N];
    for (int i = 0; i < N; i++)
        ev_init(&b[i], f->acct, T0 + 1000 + i);
    /* A key, repeated a few rows further on in the same call (another
     * request of the same group commit: both rows fall in one batch of 16),
     * and a key used once. */
    b[33].idempotency_key = "rows-key-a";
    b[38].idempotency_key = "rows-key-a";
    b[3].idempotency_key = "rows-key-b";
    /* A test send in the middle: one delivery, to the named webhook only. */
    b[25].only_webhook_id = f->hooks[1];
    b[25].max_attempts = 1;
    assert_int_equal(f->s->ops->ingest(f->s, b, N), 0);

    for (int i = 0; i < N; i++) {
        if (i == 38)
            continue;
        assert_false(b[i].duplicate);
        assert_int_equal(b[i].deliveries, i == 25 ? 1 : 2);
        check_deliveries(f, b[i].id, b[i].first_delivery_id, i == 25 ? 1 : 2);
    }
    assert_true(b[38].duplicate);
    assert_string_equal(b[38].id, b[33].id);
    assert_int_equal(b[38].deliveries, 2);
    assert_int_equal(count_events(f), before + N - 1);
}

static void test_late_conflict_rolls_back(void **state)
{
    struct fx *f = *state;
    int64_t before = count_events(f);
    struct store_ingest b[N];
    for (int i = 0; i < N; i++)
        ev_init(&b[i], f->acct, T0 + 5000 + i);
    /* Row 40 repeats row 2's id: the third batch of rows fails. */
    memcpy(b[40].id, b[2].id, sizeof b[40].id);
    assert_int_equal(f->s->ops->ingest(f->s, b, N), HERALD_ECONFLICT);
    assert_int_equal(count_events(f), before);
    struct store_event e = {0};
    assert_int_equal(f->s->ops->event_get(f->s, f->acct, b[10].id, &e), HERALD_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_large_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_conflict_rolls_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
