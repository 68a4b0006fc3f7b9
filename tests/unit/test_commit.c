/*
 * test_commit.c — the group commit (store/commit.h) over a real SQLite
 * store.
 *
 * What a publisher relies on: every submission is answered exactly once,
 * with its items filled in, and only once its events are durable: after
 * an fsync that came after their commit began, so a 202 never precedes
 * the sync. A failed commit fails every submission it carried and wakes
 * nobody (the dispatcher must not send what was refused); stopping answers
 * everything still queued. Submissions of one event and of a hundred are
 * mixed, so commits merge several of each. With a hand-off (a local
 * dispatcher), every event's deliveries are born leased and offered once
 * the commit is durable, or, when the dispatcher has no room, left
 * pending with a wake-up as before.
 *
 * fsyncs are counted by a pass-through fdatasync() defined here, which
 * SQLite's unix VFS calls through the dynamic linker.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/id.h"
#include "store/commit.h"
#include "store/store.h"

#define T0 1700000000000LL
#define SINGLES 300 /* one-event submissions */
#define BATCHES 30  /* of BATCH_EVENTS each */
#define BATCH_EVENTS 100

static atomic_long n_sync;

int fdatasync(int fd);
int fdatasync(int fd)
{
    atomic_fetch_add(&n_sync, 1);
    return (int)syscall(SYS_fdatasync, fd);
}

struct fx {
    char dir[256];
    struct store *s;
    char acct[HERALD_ID_MAX];
    /* a copy of the store's ops, for the tests that change one */
    struct store_ops ops;
    struct store wrapped;
};

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
    snprintf(f->dir, sizeof f->dir, "/tmp/herald-commit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char url[512];
    snprintf(url, sizeof url, "%s/h.db", f->dir);
    assert_int_equal(store_open(url, 4, &f->s), 0);
    struct store_account a = {.created_at = T0};
    id_new(a.id, "acct", T0);
    snprintf(a.name, sizeof a.name, "commit");
    assert_int_equal(f->s->ops->account_create(f->s, &a), 0);
    memcpy(f->acct, a.id, sizeof f->acct);
    struct store_webhook w = {0};
    id_new(w.id, "wh", T0);
    memcpy(w.account_id, f->acct, sizeof w.account_id);
    w.name = "all";
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
    w.created_at = T0;
    w.modified_at = T0;
    assert_int_equal(f->s->ops->webhook_create(f->s, &w), 0);
    f->ops = *f->s->ops;
    f->wrapped = (struct store){.ops = &f->ops, .impl = f->s->impl};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- submissions and their answers ---- */

/* One submission's events and what its done callback saw. The sync count
 * is read when the answer comes: it must have moved since the commit. */
struct sub {
    struct store_ingest items[BATCH_EVENTS];
    size_t n;
    int calls;
    int rc;
    long syncs_at_answer;
};

/* Everything the callbacks share; done and notify run on the committer
 * thread. */
struct run {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int answered;
    atomic_int notified;
};

static struct run g_run = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void on_done(void *arg, int rc)
{
    struct sub *s = arg;
    s->syncs_at_answer = atomic_load(&n_sync);
    pthread_mutex_lock(&g_run.mu);
    s->calls++;
    s->rc = rc;
    g_run.answered++;
    pthread_cond_signal(&g_run.cv);
    pthread_mutex_unlock(&g_run.mu);
}

static void on_notify(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_run.notified, 1);
}

static void run_reset(void)
{
    pthread_mutex_lock(&g_run.mu);
    g_run.answered = 0;
    pthread_mutex_unlock(&g_run.mu);
    atomic_store(&g_run.notified, 0);
}

static void wait_answered(int want)
{
    pthread_mutex_lock(&g_run.mu);
    while (g_run.answered < want)
        pthread_cond_wait(&g_run.cv, &g_run.mu);
    pthread_mutex_unlock(&g_run.mu);
}

static const char DATA[] = "{\"post_id\":\"p1\"}";

static void fill(struct fx *f, struct sub *s, size_t n, int64_t t)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->rc = -12345;
    for (size_t i = 0; i < n; i++) {
        s->items[i].account_id = f->acct;
        s->items[i].type = "post.published";
        s->items[i].data = DATA;
        s->items[i].data_len = sizeof DATA - 1;
        s->items[i].created_at = t;
        id_new(s->items[i].id, "evt", t);
    }
}

#define SUBS (SINGLES + BATCHES)

/* Submits SINGLES one-event and BATCHES hundred-event submissions, a batch
 * every SUBS / BATCHES, without waiting. */
static void submit_mix(struct fx *f, struct committer *c, struct sub *subs)
{
    for (int i = 0; i < SUBS; i++) {
        bool batch = i % (SUBS / BATCHES) == 0;
        fill(f, &subs[i], batch ? BATCH_EVENTS : 1, T0 + 1000 + i);
        assert_int_equal(committer_submit_async(c, subs[i].items, subs[i].n, on_done, &subs[i]), 0);
    }
}

/* Starts a committer on store s (with handoff, or none), submits the mix,
 * waits for every answer unless stop_at_once, stops it; the submissions,
 * to free. */
static struct sub *run_mix(struct fx *f, struct store *s, const struct committer_handoff *handoff,
                           bool stop_at_once)
{
    run_reset();
    struct committer *c;
    assert_int_equal(committer_start(&c, s, 1000, COMMITTER_LINGER_US, COMMITTER_GAP_US, on_notify,
                                     NULL, handoff),
                     0);
    struct sub *subs = calloc(SUBS, sizeof *subs);
    assert_non_null(subs);
    submit_mix(f, c, subs);
    if (!stop_at_once)
        wait_answered(SUBS);
    committer_stop(c);
    return subs;
}

/* The fsync count as each commit began, by event id: recorded by a store
 * whose ingest is the real one plus this. */
struct commit_mark {
    char id[HERALD_ID_MAX];
    long syncs;
};

static struct {
    pthread_mutex_t mu;
    struct commit_mark *v;
    size_t n;
    int (*real)(struct store *, struct store_ingest *, size_t);
} g_marks = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, NULL};

static int marking_ingest(struct store *s, struct store_ingest *items, size_t n)
{
    long syncs = atomic_load(&n_sync);
    int rc = g_marks.real(s, items, n);
    pthread_mutex_lock(&g_marks.mu);
    /* One mark per event: the committer merges submissions into a commit,
     * so any event may be a submission's first. */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct commit_mark *m = &g_marks.v[g_marks.n++];
        memcpy(m->id, items[i].id, sizeof m->id);
        m->syncs = syncs;
    }
    pthread_mutex_unlock(&g_marks.mu);
    return rc;
}

static long syncs_at_commit(const char *id)
{
    for (size_t i = 0; i < g_marks.n; i++)
        if (strcmp(g_marks.v[i].id, id) == 0)
            return g_marks.v[i].syncs;
    fail_msg("event %s was never committed", id);
    return 0;
}

static int64_t stored_events(struct fx *f)
{
    struct store_stats st;
    assert_int_equal(f->s->ops->stats(f->s, &st), 0);
    return st.events;
}

static void test_every_submission_is_answered_once_after_its_sync(void **state)
{
    struct fx *f = *state;
    g_marks.real = f->s->ops->ingest;
    g_marks.v = calloc(SINGLES + BATCHES * BATCH_EVENTS, sizeof *g_marks.v);
    g_marks.n = 0;
    assert_non_null(g_marks.v);
    f->ops.ingest = marking_ingest;
    struct sub *subs = run_mix(f, &f->wrapped, NULL, false);

    size_t events = 0;
    for (int i = 0; i < SUBS; i++) {
        assert_int_equal(subs[i].calls, 1);
        assert_int_equal(subs[i].rc, 0);
        /* Answered only after an fsync made after its commit began. */
        assert_true(subs[i].syncs_at_answer > syncs_at_commit(subs[i].items[0].id));
        for (size_t j = 0; j < subs[i].n; j++) {
            assert_int_equal(subs[i].items[j].deliveries, 1);
            assert_true(subs[i].items[j].first_delivery_id[0] != '\0');
        }
        events += subs[i].n;
    }
    assert_int_equal(events, SINGLES + BATCHES * BATCH_EVENTS);
    assert_int_equal(stored_events(f), (int64_t)events);
    assert_true(atomic_load(&g_run.notified) >= 1);
    free(subs);
    free(g_marks.v);
    g_marks.v = NULL;
}

/* A commit that fails, as when its fsync does (SQLite then rolls back). */
static int failing_ingest(struct store *s, struct store_ingest *items, size_t n)
{
    (void)s;
    (void)items;
    (void)n;
    return HERALD_ESTORE;
}

static void test_a_failed_commit_fails_its_submissions(void **state)
{
    struct fx *f = *state;
    f->ops.ingest = failing_ingest;
    struct sub *subs = run_mix(f, &f->wrapped, NULL, false);
    for (int i = 0; i < SUBS; i++) {
        assert_int_equal(subs[i].calls, 1);
        assert_int_equal(subs[i].rc, HERALD_ESTORE);
    }
    /* Nothing to send: the dispatcher is not woken for a refused commit. */
    assert_int_equal(atomic_load(&g_run.notified), 0);
    free(subs);
}

static void test_stop_answers_everything_queued(void **state)
{
    struct fx *f = *state;
    struct sub *subs = run_mix(f, f->s, NULL, true); /* most still queued at the stop */
    for (int i = 0; i < SUBS; i++) {
        assert_int_equal(subs[i].calls, 1);
        assert_int_equal(subs[i].rc, 0);
    }
    assert_int_equal(stored_events(f), SINGLES + BATCHES * BATCH_EVENTS);
    free(subs);
}

/* ---- gathering under back-to-back commits ---- */

/* A store whose commits each wait at a gate: the test sees a commit begin
 * (with how many events it holds) and lets it go on. */
static struct {
    sem_t entered, released;
    size_t last_n;
    int (*real)(struct store *, struct store_ingest *, size_t);
} g_gate;

static int gated_ingest(struct store *s, struct store_ingest *items, size_t n)
{
    g_gate.last_n = n;
    sem_post(&g_gate.entered);
    while (sem_wait(&g_gate.released) != 0)
        ;
    return g_gate.real(s, items, n);
}

/* A linger (and gap) long enough that only COMMITTER_GATHER events or a
 * stop can end a wait: a committer that gathered when it should not, or
 * through a stop, hangs (the test's timeout). */
#define LONG_LINGER_US (600 * 1000000LL)

static void gate_start(struct fx *f, struct committer **c, int64_t gap_us)
{
    run_reset();
    sem_init(&g_gate.entered, 0, 0);
    sem_init(&g_gate.released, 0, 0);
    g_gate.real = f->s->ops->ingest;
    f->ops.ingest = gated_ingest;
    assert_int_equal(
        committer_start(c, &f->wrapped, 1000, LONG_LINGER_US, gap_us, on_notify, NULL, NULL), 0);
}

static void gate_end(void)
{
    sem_destroy(&g_gate.entered);
    sem_destroy(&g_gate.released);
}

/* Whether a commit begins within ms: only a commit that should not have
 * begun yet is checked this way, so a slow machine can only make the test
 * pass when it should fail, never the reverse. */
static bool commit_begins_within(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    int rc;
    while ((rc = sem_timedwait(&g_gate.entered, &ts)) != 0 && errno == EINTR)
        ;
    return rc == 0;
}

static void submit(struct committer *c, struct sub *s)
{
    assert_int_equal(committer_submit_async(c, s->items, 1, on_done, s), 0);
}

static void test_back_to_back_commits_gather_and_idle_ones_do_not(void **state)
{
    struct fx *f = *state;
    struct committer *c;
    gate_start(f, &c, LONG_LINGER_US);
    enum { N = COMMITTER_GATHER + 3 };
    struct sub *subs = calloc(N, sizeof *subs);
    assert_non_null(subs);
    for (int i = 0; i < N; i++)
        fill(f, &subs[i], 1, T0 + 1000 + i);

    /* Idle (nothing has been committed yet): the first event is committed
     * alone, at once. */
    submit(c, &subs[0]);
    sem_wait(&g_gate.entered);
    assert_int_equal(g_gate.last_n, 1);
    /* One short of the target arrives during that commit: the next runs
     * back to back, so it waits for the last one. */
    for (int i = 1; i < COMMITTER_GATHER; i++)
        submit(c, &subs[i]);
    sem_post(&g_gate.released);
    wait_answered(1);
    assert_false(commit_begins_within(100));
    submit(c, &subs[COMMITTER_GATHER]);
    sem_wait(&g_gate.entered);
    assert_int_equal(g_gate.last_n, COMMITTER_GATHER);

    /* Nothing came during that commit: an event published once it was
     * answered, as a client publishing one at a time does, goes at once. */
    sem_post(&g_gate.released);
    wait_answered(COMMITTER_GATHER + 1);
    int k = COMMITTER_GATHER + 1;
    submit(c, &subs[k]);
    sem_wait(&g_gate.entered);
    assert_int_equal(g_gate.last_n, 1);

    /* And a stop does not wait for company: one more queued during that
     * commit, gathering behind it, is committed as it is. */
    submit(c, &subs[k + 1]);
    sem_post(&g_gate.released);
    wait_answered(k + 1);
    sem_post(&g_gate.released); /* for the commit the stop makes */
    committer_stop(c);
    assert_int_equal(g_gate.last_n, 1);

    for (int i = 0; i < N; i++) {
        assert_int_equal(subs[i].calls, 1);
        assert_int_equal(subs[i].rc, 0);
    }
    assert_int_equal(stored_events(f), N);
    free(subs);
    gate_end();
}

/* Fewer clients than the target, each publishing one event at a time:
 * once no event has come for the gap, the gathered ones go. */
static void test_a_gather_ends_when_events_stop_coming(void **state)
{
    struct fx *f = *state;
    struct committer *c;
    gate_start(f, &c, 20 * 1000);
    struct sub *subs = calloc(3, sizeof *subs);
    assert_non_null(subs);
    for (int i = 0; i < 3; i++)
        fill(f, &subs[i], 1, T0 + 1000 + i);
    submit(c, &subs[0]);
    sem_wait(&g_gate.entered);
    submit(c, &subs[1]); /* back to back, */
    submit(c, &subs[2]); /* with two of the target's sixteen */
    sem_post(&g_gate.released);
    sem_wait(&g_gate.entered); /* well before the 600 s linger */
    assert_int_equal(g_gate.last_n, 2);
    sem_post(&g_gate.released);
    committer_stop(c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(subs[i].rc, 0);
    free(subs);
    gate_end();
}

/* ---- the hand-off to a local dispatcher ---- */

/* What a dispatcher's lease() and offer() saw; offer runs on the
 * committer thread, read after committer_stop. */
static struct {
    const char *owner; /* what lease() answers: NULL when it has no room */
    int leases;
    char (*ids)[HERALD_ID_MAX];
    size_t n;
    int odd; /* leases for no events; offered items not leased to owner, or
              * without their delivery */
} g_hand;

static const char *hand_lease(void *arg, size_t n, int64_t *until)
{
    (void)arg;
    g_hand.leases++;
    g_hand.odd += n == 0;
    *until = T0 + 3600000;
    return g_hand.owner;
}

/* Each offered event has its one delivery's claim, in order, as ingest
 * made it. The claims are left in the list: the committer frees them. */
static void hand_offer(void *arg, const struct store_ingest *items, size_t n,
                       struct store_claims *claims)
{
    (void)arg;
    g_hand.odd += claims->len != n;
    for (size_t i = 0; i < n; i++) {
        g_hand.odd += items[i].lease_owner != g_hand.owner || items[i].deliveries != 1;
        if (i < claims->len) {
            const struct store_claim *k = &claims->v[i];
            g_hand.odd += strcmp(k->event_id, items[i].id) != 0 ||
                          strcmp(k->delivery_id, items[i].first_delivery_id) != 0 ||
                          k->payload_len != items[i].data_len ||
                          memcmp(k->payload, items[i].data, k->payload_len) != 0;
        }
        memcpy(g_hand.ids[g_hand.n++], items[i].id, HERALD_ID_MAX);
    }
}

static const struct committer_handoff hand = {hand_lease, hand_offer, NULL};

static void run_with_handoff(struct fx *f, const char *owner)
{
    memset(&g_hand, 0, sizeof g_hand);
    g_hand.owner = owner;
    g_hand.ids = calloc(SINGLES + BATCHES * BATCH_EVENTS, sizeof *g_hand.ids);
    assert_non_null(g_hand.ids);
    struct sub *subs = run_mix(f, f->s, &hand, false);
    for (int i = 0; i < SUBS; i++)
        assert_int_equal(subs[i].rc, 0);
    free(subs);
    assert_true(g_hand.leases >= 1); /* asked before every commit */
    assert_int_equal(g_hand.odd, 0);
}

/* Leased at insert: offered once each with its claim, claimed by nobody,
 * and no wake-up for a claim that would find none of them. */
static void test_handoff_leases_and_offers_every_event(void **state)
{
    struct fx *f = *state;
    run_with_handoff(f, "node-a");
    assert_int_equal(g_hand.n, SINGLES + BATCHES * BATCH_EVENTS);
    assert_int_equal(atomic_load(&g_run.notified), 0);
    struct store_claim *claims = NULL;
    size_t n = 0;
    assert_int_equal(
        f->s->ops->claim_due(f->s, "node-b", T0 + 10000, T0 + 20000, 10000, &claims, &n), 0);
    assert_int_equal(n, 0);
    free(g_hand.ids);
}

/* Without room (lease() answers NULL) the events go the usual way: pending,
 * the dispatcher woken to claim them. */
static void test_handoff_without_room_wakes_for_a_claim(void **state)
{
    struct fx *f = *state;
    run_with_handoff(f, NULL);
    assert_int_equal(g_hand.n, 0);
    assert_true(atomic_load(&g_run.notified) >= 1);
    struct store_claim *claims = NULL;
    size_t n = 0;
    assert_int_equal(
        f->s->ops->claim_due(f->s, "node-b", T0 + 10000, T0 + 20000, 10000, &claims, &n), 0);
    assert_int_equal(n, SINGLES + BATCHES * BATCH_EVENTS);
    store_claims_free(claims, n);
    free(g_hand.ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_submission_is_answered_once_after_its_sync,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_commit_fails_its_submissions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_answers_everything_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_to_back_commits_gather_and_idle_ones_do_not,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_gather_ends_when_events_stop_coming, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_handoff_leases_and_offers_every_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_handoff_without_room_wakes_for_a_claim, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
