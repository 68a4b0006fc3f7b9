/* End-to-end tests of src/dispatch/dispatcher.c inside one process: a real
 * SQLite store in a temporary folder, real receivers on 127.0.0.1, the real
 * dispatcher thread. Every wait polls the store or a receiver for a
 * condition with a generous deadline; no sleep stands in for a result. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/id.h"
#include "core/util.h"
#include "dispatch/dispatcher.h"
#include "sign/sign.h"
#include "store/store.h"
#include "receiver.h"

#define DEADLINE_MS 60000

#define FIXTURE_RECEIVERS 4

/* A test's dispatcher and receivers belong to the fixture, not to the
 * test's stack: a failed assertion leaves the test at once, and teardown
 * then stops what is still running before it closes the store, so one
 * failure is reported as itself and the tests after it still run. */
struct fixture {
    char dir[64];
    struct store *s;
    struct herald_config cfg;
    char account[HERALD_ID_MAX];
    struct dispatcher *d;                    /* running, or NULL */
    struct receiver *rcv[FIXTURE_RECEIVERS]; /* running (owned), or NULL */
};

struct hook {
    char id[HERALD_ID_MAX];
    char secret[SIGN_SECRET_MAX];
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
    struct fixture *f = xcalloc(1, sizeof *f);
    str_copy(f->dir, sizeof f->dir, "/tmp/herald-dispatch-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/herald.db", f->dir);
    assert_int_equal(store_open(url, 4, &f->s), 0);
    config_defaults(&f->cfg);
    f->cfg.dev = true; /* receivers are on loopback */
    assert_true(config_parse_schedule(&f->cfg, "0.05,0.05"));
    str_copy(f->cfg.node_id, sizeof f->cfg.node_id, "test-node");
    struct store_account a = {.created_at = clock_now_ms()};
    id_new(a.id, "acct", a.created_at);
    str_copy(a.name, sizeof a.name, "test");
    assert_int_equal(f->s->ops->account_create(f->s, &a), 0);
    str_copy(f->account, sizeof f->account, a.id);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    /* Left running by a failed test: receivers first, so that a request
     * they hold ends and the dispatcher's stop does not wait it out. */
    for (size_t i = 0; i < FIXTURE_RECEIVERS; i++)
        if (f->rcv[i]) {
            receiver_unhang(f->rcv[i]);
            receiver_stop(f->rcv[i]);
            free(f->rcv[i]);
        }
    if (f->d)
        dispatcher_stop(f->d);
    store_close(f->s);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A receiver answering script (receiver.h), owned by the fixture. */
static struct receiver *receiver_open(struct fixture *f, const char *const *script, size_t n)
{
    size_t i = 0;
    while (i < FIXTURE_RECEIVERS && f->rcv[i])
        i++;
    assert_true(i < FIXTURE_RECEIVERS);
    struct receiver *r = xcalloc(1, sizeof *r);
    if (!receiver_start(r, script, n)) {
        free(r);
        fail_msg("receiver_start failed");
    }
    f->rcv[i] = r;
    return r;
}

static void receiver_close(struct fixture *f, struct receiver *r)
{
    for (size_t i = 0; i < FIXTURE_RECEIVERS; i++)
        if (f->rcv[i] == r)
            f->rcv[i] = NULL;
    receiver_stop(r);
    free(r);
}

/* The fixture's dispatcher on store s (f->s, or a proxy of it that
 * outlives the test: static). */
static struct dispatcher *dispatcher_open(struct fixture *f, struct store *s)
{
    assert_null(f->d);
    assert_int_equal(dispatcher_start(&f->d, &f->cfg, s), 0);
    return f->d;
}

static void dispatcher_close(struct fixture *f, struct dispatcher *d)
{
    assert_ptr_equal(d, f->d);
    f->d = NULL;
    dispatcher_stop(d);
}

static void make_hook(struct fixture *f, struct hook *h, int port, const char *events,
                      int max_attempts, int max_in_flight)
{
    struct store_webhook w;
    memset(&w, 0, sizeof w);
    int64_t now = clock_now_ms();
    id_new(h->id, "wh", now);
    sign_secret_new(h->secret);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    str_copy(w.id, sizeof w.id, h->id);
    str_copy(w.account_id, sizeof w.account_id, f->account);
    w.name = "test";
    w.description = "";
    w.url = url;
    str_copy(w.method, sizeof w.method, "POST");
    str_copy(w.content_type, sizeof w.content_type, "application/json");
    w.events = (char *)events;
    w.headers = "{\"X-Team\":\"blue\"}";
    w.max_attempts = max_attempts;
    w.max_in_flight = max_in_flight;
    w.enabled = true;
    str_copy(w.kind, sizeof w.kind, "webhook");
    str_copy(w.signature_scheme, sizeof w.signature_scheme, "standard");
    w.secret = h->secret;
    w.created_at = w.modified_at = now;
    assert_int_equal(f->s->ops->webhook_create(f->s, &w), 0);
}

static void publish(struct fixture *f, const char *type, const char *data, char id[HERALD_ID_MAX],
                    int want_deliveries)
{
    struct store_ingest it;
    memset(&it, 0, sizeof it);
    it.account_id = f->account;
    it.type = type;
    it.data = data;
    it.data_len = strlen(data);
    it.created_at = clock_now_ms();
    id_new(it.id, "evt", it.created_at);
    assert_int_equal(f->s->ops->ingest(f->s, &it, 1), 0);
    assert_int_equal(it.deliveries, want_deliveries);
    if (id)
        str_copy(id, HERALD_ID_MAX, it.id);
}

static struct store_stats stats(struct fixture *f)
{
    struct store_stats st;
    assert_int_equal(f->s->ops->stats(f->s, &st), 0);
    return st;
}

static void poll_pause(void)
{
    usleep(5000);
}

static void wait_succeeded(struct fixture *f, int64_t n)
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (stats(f).succeeded < n) {
        if (clock_mono_ms() > end)
            fail_msg("deliveries did not succeed in time: %lld of %lld",
                     (long long)stats(f).succeeded, (long long)n);
        poll_pause();
    }
}

static void wait_received(struct receiver *r, size_t n)
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (receiver_count(r) < n) {
        if (clock_mono_ms() > end)
            fail_msg("receiver got %zu of %zu requests in time", receiver_count(r), n);
        poll_pause();
    }
}

static struct store_attempt *attempts_of(struct fixture *f, const char *webhook_id, int status,
                                         size_t *n)
{
    struct store_attempt_query q = {.webhook_id = webhook_id, .status = status, .count = 100};
    struct store_attempt *a = NULL;
    int64_t total = 0;
    assert_int_equal(f->s->ops->attempt_list(f->s, f->account, &q, &a, n, &total), 0);
    return a;
}

/* The receiver-side check, written from the Standard Webhooks spec with
 * OpenSSL alone: HMAC-SHA256(base64-decode(secret), id.ts.body). */
static bool signature_ok(const char *secret, const struct received *q)
{
    const char *id = received_header(q, "webhook-id");
    char idc[64], ts[32], sig[256];
    if (!id)
        return false;
    str_copy(idc, sizeof idc, id);
    str_copy(ts, sizeof ts, received_header(q, "webhook-timestamp"));
    str_copy(sig, sizeof sig, received_header(q, "webhook-signature"));
    unsigned char key[96];
    const char *b64 = secret + 6;
    int kl = EVP_DecodeBlock(key, (const unsigned char *)b64, (int)strlen(b64));
    for (size_t l = strlen(b64); l > 0 && b64[l - 1] == '='; l--)
        kl--;
    HMAC_CTX *ctx = HMAC_CTX_new();
    HMAC_Init_ex(ctx, key, kl, EVP_sha256(), NULL);
    HMAC_Update(ctx, (const unsigned char *)idc, strlen(idc));
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, (const unsigned char *)ts, strlen(ts));
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, (const unsigned char *)q->body, q->body_len);
    unsigned char md[32];
    unsigned int mdlen = 0;
    HMAC_Final(ctx, md, &mdlen);
    HMAC_CTX_free(ctx);
    char want[64] = "v1,";
    EVP_EncodeBlock((unsigned char *)want + 3, md, (int)mdlen);
    return strcmp(sig, want) == 0;
}

/* A receiver failing with 500 twice then 200: three attempts with the right
 * codes, spaced by the compressed schedule, one stable webhook-id, every
 * signature valid, data byte for byte. */
static void test_retries_then_success(void **state)
{
    struct fixture *f = *state;
    static const char *const script[] = {
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror",
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    };
    struct receiver *r = receiver_open(f, script, ARRAY_SIZE(script));
    struct hook h;
    make_hook(f, &h, r->port, "[\"post.published\"]", 4, 8);
    const char *data = "{ \"post_id\" : \"p1\",\"text\":\"h\xc3\xa9llo\", \"n\": 1.50 }";
    char evt[HERALD_ID_MAX];
    publish(f, "post.published", data, evt, 1);

    struct dispatcher *d = dispatcher_open(f, f->s);
    dispatcher_wake(d);
    wait_succeeded(f, 1);
    dispatcher_close(f, d);

    struct store_stats st = stats(f);
    assert_int_equal(st.succeeded, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.attempts, 3);

    size_t n = 0;
    struct store_attempt *a = attempts_of(f, h.id, 0, &n);
    assert_int_equal(n, 3); /* newest first */
    static const int codes[] = {200, 500, 500};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(a[i].n, 3 - (int)i);
        assert_int_equal(a[i].response_code, codes[i]);
        assert_string_equal(a[i].error, i == 0 ? "" : "http");
        assert_string_equal(a[i].event_id, evt);
        assert_string_equal(a[i].event_type, "post.published");
        assert_non_null(strstr(a[i].request_headers, evt));
        assert_null(strstr(a[i].request_headers, h.secret + 6));
    }
    assert_string_equal(a[0].response_body, "ok");
    assert_string_equal(a[1].response_body, "error");
    /* Spaced by the 50 ms schedule, less at most 10 % jitter. */
    assert_true(a[1].started_at - a[2].started_at >= 45);
    assert_true(a[0].started_at - a[1].started_at >= 45);
    store_attempts_free(a, n);

    assert_int_equal(receiver_count(r), 3);
    char want_data[256];
    snprintf(want_data, sizeof want_data, "\"data\":%s}", data);
    for (size_t i = 0; i < 3; i++) {
        const struct received *q = &r->req[i];
        assert_string_equal(received_header(q, "webhook-id"), evt);
        assert_string_equal(received_header(q, "X-Team"), "blue");
        assert_true(signature_ok(h.secret, q));
        assert_non_null(strstr(q->body, want_data));
        assert_int_equal(q->body_len, r->req[0].body_len);
        assert_memory_equal(q->body, r->req[0].body, q->body_len); /* same body every try */
    }
    receiver_close(f, r);
}

static cJSON *find_event(struct receiver *r, const char *type)
{
    for (size_t i = 0; i < receiver_count(r); i++) {
        cJSON *j = cJSON_Parse(r->req[i].body);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0)
            return j;
        cJSON_Delete(j);
    }
    return NULL;
}

static const char *field(const cJSON *event, const char *name)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(event, "data"), name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double number(const cJSON *event, const char *name)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(event, "data"), name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Exhaustion and 410: the delivery fails, the webhook answering 410 is
 * disabled, and both operational events reach a webhook subscribed to them. */
static void test_exhausted_and_gone(void **state)
{
    struct fixture *f = *state;
    static const char *const fail500[] = {"HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n"};
    static const char *const gone[] = {"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n"};
    static const char *const ok[] = {"HTTP/1.1 204 No Content\r\n\r\n"};
    struct receiver *ra = receiver_open(f, fail500, 1);
    struct receiver *rg = receiver_open(f, gone, 1);
    struct receiver *rm = receiver_open(f, ok, 1);
    struct hook ha, hg, hm;
    make_hook(f, &ha, ra->port, "[\"post.published\"]", 2, 8);
    make_hook(f, &hg, rg->port, "[\"post.*\"]", 4, 8);
    make_hook(f, &hm, rm->port, "[\"delivery.exhausted\",\"webhook.disabled\"]", 4, 8);
    char evt[HERALD_ID_MAX];
    publish(f, "post.published", "{\"id\":1}", evt, 2);

    struct dispatcher *d = dispatcher_open(f, f->s);
    wait_received(rm, 2);
    wait_succeeded(f, 2);
    dispatcher_close(f, d);

    assert_int_equal(receiver_count(ra), 2); /* max_attempts */
    assert_int_equal(receiver_count(rg), 1); /* 410 is final */
    assert_int_equal(receiver_count(rm), 2); /* nothing twice, no loop */
    struct store_stats st = stats(f);
    assert_int_equal(st.failed, 2);
    assert_int_equal(st.succeeded, 2);
    assert_int_equal(st.pending, 0);

    cJSON *ex = find_event(rm, "delivery.exhausted");
    assert_non_null(ex);
    assert_string_equal(field(ex, "webhook_id"), ha.id);
    assert_string_equal(field(ex, "event_id"), evt);
    assert_string_equal(field(ex, "event_type"), "post.published");
    assert_string_equal(field(ex, "last_error"), "http");
    assert_non_null(field(ex, "delivery_id"));
    assert_true(number(ex, "attempts") == 2);
    assert_true(number(ex, "last_response_code") == 500);
    cJSON_Delete(ex);

    cJSON *dis = find_event(rm, "webhook.disabled");
    assert_non_null(dis);
    assert_string_equal(field(dis, "webhook_id"), hg.id);
    assert_string_equal(field(dis, "reason"), "gone");
    assert_non_null(strstr(field(dis, "url"), "127.0.0.1"));
    cJSON_Delete(dis);
    for (size_t i = 0; i < 2; i++)
        assert_true(signature_ok(hm.secret, &rm->req[i]));

    struct store_webhook w;
    assert_int_equal(f->s->ops->webhook_get(f->s, f->account, hg.id, &w), 0);
    assert_false(w.enabled);
    assert_non_null(w.disabled_reason);
    assert_string_equal(w.disabled_reason, "gone");
    store_webhook_release(&w);

    /* A new event no longer goes to the disabled webhook. */
    publish(f, "post.published", "{\"id\":2}", NULL, 1);
    receiver_close(f, ra);
    receiver_close(f, rg);
    receiver_close(f, rm);
}

/* Client-side TCP connections in ESTABLISHED state to 127.0.0.1:port,
 * from /proc/net/tcp (the kernel completes handshakes the receiver has not
 * accepted yet, so this counts what the dispatcher opened). */
static int connections_to(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned rport = 0, st = 0, raddr = 0;
        if (sscanf(line, " %*d: %*x:%*x %x:%x %x", &raddr, &rport, &st) == 3 &&
            (int)rport == port && st == 1 && raddr == 0x0100007f)
            n++;
    }
    fclose(f);
    return n;
}

/* Threads of this process named comm (/proc/self/task/N/comm). */
static int threads_named(const char *comm)
{
    DIR *dir = opendir("/proc/self/task");
    assert_non_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char path[300], name[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(name, sizeof name, f))
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
        n += strcmp(name, comm) == 0;
    }
    closedir(dir);
    return n;
}

/* A joined thread may linger in /proc/self/task for a moment. */
static void wait_threads_named(const char *comm, int n)
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (threads_named(comm) != n) {
        if (clock_mono_ms() > end)
            fail_msg("%d threads named %s, not %d", threads_named(comm), comm, n);
        poll_pause();
    }
}

/* How many of this process's epoll sets hold a socket connected to
 * 127.0.0.1:port (read from /proc/self/fdinfo), and in *socks how many
 * such sockets they hold in all. Each sending thread waits on a set of its
 * own, so this counts the threads that hold the connections. */
static int epoll_sets_holding_peer(int port, int *socks)
{
    *socks = 0;
    DIR *dir = opendir("/proc/self/fd");
    assert_non_null(dir);
    int sets = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        char path[300], link[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        if (strcmp(link, "anon_inode:[eventpoll]") != 0)
            continue;
        snprintf(path, sizeof path, "/proc/self/fdinfo/%s", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char line[256];
        int held = 0;
        while (fgets(line, sizeof line, f)) {
            int tfd;
            struct sockaddr_in a;
            socklen_t al = sizeof a;
            held += sscanf(line, "tfd: %d", &tfd) == 1 &&
                    getpeername(tfd, (struct sockaddr *)&a, &al) == 0 && a.sin_family == AF_INET &&
                    ntohs(a.sin_port) == port;
        }
        fclose(f);
        sets += held > 0;
        *socks += held;
    }
    closedir(dir);
    return sets;
}

/* With three sending threads (the loop and two lanes) every delivery is
 * sent exactly once, signed, and recorded, whichever thread sent it. */
static void test_lanes_send_each_once(void **state)
{
    struct fixture *f = *state;
    f->cfg.send_threads = 3;
    f->cfg.lane_spill_always = true; /* an idle loop keeps its transfers */
    static const char *const ok[] = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    struct receiver *r = receiver_open(f, ok, 1);
    struct hook h;
    make_hook(f, &h, r->port, "[\"*\"]", 4, 8);
    enum { N = 60 };
    char ids[N][HERALD_ID_MAX];
    for (int i = 0; i < N; i++)
        publish(f, "post.published", "{\"n\":1}", ids[i], 1);

    int before = threads_named("herald-send");
    struct dispatcher *d = dispatcher_open(f, f->s);
    assert_int_equal(threads_named("herald-send"), before + 2);
    dispatcher_wake(d);
    wait_succeeded(f, N);
    dispatcher_close(f, d);
    wait_threads_named("herald-send", before);

    struct store_stats st = stats(f);
    assert_int_equal(st.succeeded, N);
    assert_int_equal(st.attempts, N);
    assert_int_equal(st.pending + st.in_flight + st.failed, 0);
    assert_int_equal(receiver_count(r), N);
    bool seen[N] = {false};
    for (size_t i = 0; i < N; i++) {
        const struct received *q = &r->req[i];
        assert_true(signature_ok(h.secret, q));
        const char *id = received_header(q, "webhook-id");
        int k = 0;
        while (k < N && strcmp(ids[k], id) != 0)
            k++;
        assert_true(k < N);
        assert_false(seen[k]); /* no event twice */
        seen[k] = true;
    }
    receiver_close(f, r);
}

/* Three sending threads and a webhook with max_in_flight 3 whose endpoint
 * hangs: its three requests' sockets must sit in want_sets epoll sets (one
 * per sending thread that holds one) while the three other deliveries
 * wait; stop then waits for the transfers, records them, and joins the
 * lanes. */
static void hang_three(struct fixture *f, bool spill_always, int want_sets)
{
    f->cfg.send_threads = 3;
    f->cfg.lane_spill_always = spill_always;
    f->cfg.request_timeout_ms = 30000;
    static const char *const hang[] = {"HANG"};
    struct receiver *r = receiver_open(f, hang, 1);
    struct hook h;
    make_hook(f, &h, r->port, "[\"*\"]", 4, 3);
    for (int i = 0; i < 6; i++)
        publish(f, "post.published", "{}", NULL, 1);

    int before = threads_named("herald-send");
    struct dispatcher *d = dispatcher_open(f, f->s);
    dispatcher_wake(d);
    /* A socket is connected a moment before its thread adds it to its
     * epoll set (libcurl reports it after connect), so wait for all three
     * to be in sets, not just connected. */
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    int sets, socks;
    while (sets = epoll_sets_holding_peer(r->port, &socks), socks < 3) {
        if (clock_mono_ms() > end)
            fail_msg("%d of 3 connections waited on in time (%d connected)", socks,
                     connections_to(r->port));
        poll_pause();
    }
    assert_int_equal(sets, want_sets);
    assert_int_equal(socks, 3);
    assert_int_equal(connections_to(r->port), 3); /* max_in_flight holds */

    receiver_unhang(r); /* the hanging requests end, unanswered */
    dispatcher_close(f, d);
    wait_threads_named("herald-send", before);
    struct store_stats st = stats(f);
    assert_int_equal(st.in_flight, 0);
    assert_true(st.attempts >= 3);
    assert_int_equal(st.pending + st.succeeded + st.failed, 6);
    receiver_close(f, r);
}

/* Spilling, a webhook's requests go out on all three sending threads. */
static void test_lanes_share_a_webhook(void **state)
{
    hang_three(*state, true, 3);
}

/* A loop that is not busy keeps its transfers on its own multi: a hand-off
 * to a lane would only cost wake-ups. */
static void test_idle_loop_keeps_its_transfers(void **state)
{
    hang_three(*state, false, 1);
}

/* A webhook whose endpoint hangs, with a deep backlog claimed first, does
 * not delay another webhook; on stop its unsent deliveries go back. */
static void test_slow_endpoint_isolated(void **state)
{
    struct fixture *f = *state;
    f->cfg.request_timeout_ms = 30000;
    static const char *const hang[] = {"HANG"};
    static const char *const ok[] = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    struct receiver *rs = receiver_open(f, hang, 1);
    struct receiver *rf = receiver_open(f, ok, 1);
    struct hook hs, hf;
    make_hook(f, &hs, rs->port, "[\"post.deleted\"]", 4, 2);
    make_hook(f, &hf, rf->port, "[\"post.published\"]", 4, 8);
    for (int i = 0; i < 20; i++)
        publish(f, "post.deleted", "{}", NULL, 1);
    for (int i = 0; i < 20; i++)
        publish(f, "post.published", "{}", NULL, 1);

    struct dispatcher *d = dispatcher_open(f, f->s);
    wait_succeeded(f, 20);
    /* All of the fast webhook's deliveries are done while the slow one has
     * not finished a single attempt, and never had more than its cap open. */
    size_t n = 0;
    struct store_attempt *a = attempts_of(f, hs.id, 0, &n);
    assert_int_equal(n, 0);
    store_attempts_free(a, n);
    a = attempts_of(f, hf.id, 1, &n);
    assert_int_equal(n, 20);
    store_attempts_free(a, n);
    assert_true(receiver_accepted(rs) <= 1);       /* one hangs, one waits in the backlog */
    assert_int_equal(connections_to(rs->port), 2); /* exactly its max_in_flight */
    struct store_stats st = stats(f);
    assert_int_equal(st.in_flight, 20); /* the slow webhook's, claimed */

    receiver_unhang(rs);
    dispatcher_close(f, d);
    st = stats(f);
    assert_int_equal(st.in_flight, 0); /* recorded or given back */
    assert_int_equal(st.pending, 20);
    assert_int_equal(st.succeeded, 20);
    receiver_close(f, rs);
    receiver_close(f, rf);
}

/* Starts a dispatcher on N deliveries for a webhook whose first request
 * hangs (max_in_flight 2), and waits until all N are claimed. */
static struct receiver *hold_n(struct fixture *f, int n)
{
    static const char *const script[] = {"HANG", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    struct receiver *r = receiver_open(f, script, 2);
    struct hook h;
    make_hook(f, &h, r->port, "[\"post.published\"]", 4, 2);
    for (int i = 0; i < n; i++)
        publish(f, "post.published", "{}", NULL, 1);
    dispatcher_open(f, f->s);
    wait_received(r, 1);
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (stats(f).in_flight < n) {
        if (clock_mono_ms() > end)
            fail_msg("the surplus went back to the store before any answer: %lld of %d leased",
                     (long long)stats(f).in_flight, n);
        poll_pause();
    }
    return r;
}

/* A backlog for a webhook that has not answered yet: what its queue cannot
 * take stays claimed, not sent back to the store with a due time guessed
 * from INITIAL_LATENCY_MS, until its first attempt ends and says how fast
 * it is. Given back on the guess, a fast endpoint's surplus used to come
 * back two rows (its max_in_flight) every tenth of a second. */
static void test_surplus_waits_for_the_first_answer(void **state)
{
    struct fixture *f = *state;
    f->cfg.request_timeout_ms = 30000;
    enum { N = 200 };                  /* well past its queue at the guessed latency (2 x 10) */
    struct receiver *r = hold_n(f, N); /* fails if the surplus went back before any answer */
    assert_int_equal(receiver_count(r), 1); /* the other connection waits in the backlog */

    /* The hung attempt fails when let go (closed unanswered) and is
     * retried; every delivery then succeeds, each sent once more at most. */
    receiver_unhang(r);
    wait_succeeded(f, N);
    struct store_stats st = stats(f);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.failed, 0);
    assert_int_equal(receiver_count(r), N + 1);
    dispatcher_close(f, f->d);
    receiver_close(f, r);
}

/* Held surplus is leased to this node like a queued delivery: stopping
 * gives it back to the store, pending, with nothing lost. */
static void test_held_surplus_given_back_on_stop(void **state)
{
    struct fixture *f = *state;
    f->cfg.request_timeout_ms = 30000;
    struct receiver *r = hold_n(f, 200);
    receiver_unhang(r); /* the hung attempt ends (unanswered), so stop need not wait it out */
    dispatcher_close(f, f->d);
    struct store_stats st = stats(f);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.pending + st.succeeded, 200);
    assert_int_equal(st.failed, 0);
    receiver_close(f, r);
}

/* A webhook that never answers within max_wait_ms (here 5 s: a 20 s lease,
 * a 14 s request timeout) gets its held surplus back on the guess, while
 * the leases still cover an attempt; nothing is sent meanwhile. */
static void test_held_surplus_expires(void **state)
{
    struct fixture *f = *state;
    f->cfg.request_timeout_ms = 14000;
    f->cfg.lease_ms = 20000;
    struct receiver *r = hold_n(f, 60); /* 2 in flight, 20 queued, 38 held */
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (stats(f).in_flight == 60) {
        if (clock_mono_ms() > end)
            fail_msg("held surplus never given back");
        poll_pause();
    }
    struct store_stats st = stats(f);
    assert_int_equal(st.pending, 60);
    assert_true(st.in_flight <= 2 + 20); /* in flight and queued at the guessed latency */
    assert_int_equal(receiver_count(r), 1);
    receiver_unhang(r);
    dispatcher_close(f, f->d);
    st = stats(f);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.pending + st.succeeded, 60);
    receiver_close(f, r);
}

/* A dispatcher that went idle (nothing due) picks up new work after each
 * ingest and its wake-up, round after round. */
static void test_wake_after_idle(void **state)
{
    struct fixture *f = *state;
    static const char *const ok[] = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    struct receiver *r = receiver_open(f, ok, 1);
    struct hook h;
    make_hook(f, &h, r->port, "[\"*\"]", 4, 8);
    struct dispatcher *d = dispatcher_open(f, f->s);
    for (int round = 1; round <= 5; round++) {
        publish(f, "account.connected", "{\"n\":1}", NULL, 1);
        dispatcher_wake(d);
        wait_succeeded(f, round);
    }
    dispatcher_close(f, d);
    assert_int_equal(receiver_count(r), 5);
    receiver_close(f, r);
}

/* A rate limit of 5/s spreads 10 deliveries over at least a second (a
 * full bucket of 5, then one every 200 ms). Only a lower bound is checked,
 * which a slow machine cannot break. */
static void test_rate_limit(void **state)
{
    struct fixture *f = *state;
    static const char *const ok[] = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    struct receiver *r = receiver_open(f, ok, 1);
    struct hook h;
    make_hook(f, &h, r->port, "[\"*\"]", 4, 8);
    struct store_webhook w;
    assert_int_equal(f->s->ops->webhook_get(f->s, f->account, h.id, &w), 0);
    w.rate_limit = 5;
    w.modified_at++;
    assert_int_equal(f->s->ops->webhook_update(f->s, &w), 0);
    store_webhook_release(&w);
    for (int i = 0; i < 10; i++)
        publish(f, "post.published", "{}", NULL, 1);
    struct dispatcher *d = dispatcher_open(f, f->s);
    wait_succeeded(f, 10);
    dispatcher_close(f, d);
    size_t n = 0;
    struct store_attempt *a = attempts_of(f, h.id, 1, &n); /* newest first */
    assert_int_equal(n, 10);
    int64_t spread = a[0].started_at - a[9].started_at;
    if (spread < 900)
        fail_msg("10 deliveries at 5/s took only %lld ms", (long long)spread);
    store_attempts_free(a, n);
    receiver_close(f, r);
}

/* A failing webhook subscribed to everything receives the delivery.exhausted
 * event about its own delivery once; that one's exhaustion emits nothing.
 * Operational events commit with the result that caused them, so once two
 * deliveries failed the event count is final. */
static void test_exhausted_event_does_not_loop(void **state)
{
    struct fixture *f = *state;
    static const char *const fail500[] = {"HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n"};
    struct receiver *r = receiver_open(f, fail500, 1);
    struct hook h;
    make_hook(f, &h, r->port, "[\"*\"]", 1, 8);
    publish(f, "post.published", "{}", NULL, 1);
    struct dispatcher *d = dispatcher_open(f, f->s);
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (stats(f).failed < 2) {
        if (clock_mono_ms() > end)
            fail_msg("the deliveries did not fail in time");
        poll_pause();
    }
    dispatcher_close(f, d);
    struct store_stats st = stats(f);
    assert_int_equal(st.events, 2);
    assert_int_equal(st.failed, 2);
    assert_int_equal(st.pending, 0);
    assert_int_equal(receiver_count(r), 2);
    cJSON *ex = find_event(r, "delivery.exhausted");
    assert_non_null(ex);
    assert_string_equal(field(ex, "event_type"), "post.published");
    cJSON_Delete(ex);
    receiver_close(f, r);
}

/* A receiver that accepts and never answers is cut at the request timeout
 * by libcurl's timers, as driven by the dispatcher's epoll loop. */
static void test_hanging_receiver_times_out(void **state)
{
    struct fixture *f = *state;
    f->cfg.request_timeout_ms = 500;
    f->cfg.lease_ms = 20000;
    static const char *const hang[] = {"HANG"};
    struct receiver *r = receiver_open(f, hang, 1);
    struct hook h;
    make_hook(f, &h, r->port, "[\"post.published\"]", 1, 8);
    publish(f, "post.published", "{}", NULL, 1);
    struct dispatcher *d = dispatcher_open(f, f->s);
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (stats(f).failed < 1) {
        if (clock_mono_ms() > end)
            fail_msg("the hanging attempt did not end in time");
        poll_pause();
    }
    dispatcher_close(f, d);
    size_t n = 0;
    struct store_attempt *a = attempts_of(f, h.id, 0, &n);
    assert_int_equal(n, 1);
    assert_string_equal(a[0].error, "timeout");
    assert_int_equal(a[0].response_code, 0);
    assert_true(a[0].duration_ms >= 500);
    if (a[0].duration_ms > 10000) /* a missed timer, not a slow machine */
        fail_msg("cut after %lld ms", (long long)a[0].duration_ms);
    store_attempts_free(a, n);
    receiver_close(f, r);
}

/* A proxy in front of the real store that counts claim_due() calls; every
 * operation still runs on the SQLite backend (same impl pointer). */
static const struct store_ops *real_ops;
static int claims_counted;

typedef int (*claim_due_fn)(struct store *s, const char *owner, int64_t now, int64_t lease_until,
                            size_t max, struct store_claim **out, size_t *n);

/* The fixture's dispatcher on a proxy of f->s whose claim_due is fn;
 * real_ops is f->s's. Static: teardown may stop the dispatcher after the
 * test has returned. */
static struct dispatcher *dispatcher_open_claiming(struct fixture *f, claim_due_fn fn)
{
    static struct store_ops ops;
    static struct store proxy;
    real_ops = f->s->ops;
    ops = *real_ops;
    ops.claim_due = fn;
    proxy = (struct store){.ops = &ops, .impl = f->s->impl};
    return dispatcher_open(f, &proxy);
}

static int counting_claim_due(struct store *s, const char *owner, int64_t now, int64_t lease_until,
                              size_t max, struct store_claim **out, size_t *n)
{
    __atomic_add_fetch(&claims_counted, 1, __ATOMIC_SEQ_CST);
    return real_ops->claim_due(s, owner, now, lease_until, max, out, n);
}

/* With only a far-future retry pending, the dispatcher sleeps: it asks the
 * store at most once per safety poll instead of claiming in a loop. The
 * window only bounds a count from above, so a slow machine cannot fail it. */
static void test_idle_does_not_spin(void **state)
{
    struct fixture *f = *state;
    assert_true(config_parse_schedule(&f->cfg, "3600"));
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* a port nobody listens on */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    struct hook h;
    make_hook(f, &h, ntohs(sa.sin_port), "[\"*\"]", 4, 8);
    publish(f, "post.published", "{}", NULL, 1);

    struct dispatcher *d = dispatcher_open_claiming(f, counting_claim_due);
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (stats(f).attempts < 1 || stats(f).in_flight > 0) {
        if (clock_mono_ms() > end)
            fail_msg("the first attempt was not recorded in time");
        poll_pause();
    }
    __atomic_store_n(&claims_counted, 0, __ATOMIC_SEQ_CST);
    usleep(1500 * 1000); /* an observation window, not a wait for a result */
    int claims = __atomic_load_n(&claims_counted, __ATOMIC_SEQ_CST);
    dispatcher_close(f, d);
    if (claims > 2)
        fail_msg("%d claims in 1.5 s while idle", claims);
    struct store_stats st = stats(f);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.in_flight, 0);
}

/* A proxy whose next claim that finds work leases it as if the lease had
 * begun STALE_MS before the claim: the row's lease_until, and the claim's,
 * are now + lease_ms - STALE_MS. Every later claim passes through. */
enum { STALE_MS = 30000 };
static int stale_claims; /* 1 while armed, then 0; claims so leased go to stale_taken */
static int stale_taken;

static int stale_claim_due(struct store *s, const char *owner, int64_t now, int64_t lease_until,
                           size_t max, struct store_claim **out, size_t *n)
{
    if (!__atomic_load_n(&stale_claims, __ATOMIC_SEQ_CST))
        return real_ops->claim_due(s, owner, now, lease_until, max, out, n);
    int rc = real_ops->claim_due(s, owner, now, lease_until - STALE_MS, max, out, n);
    if (rc == 0 && *n > 0) {
        __atomic_store_n(&stale_claims, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&stale_taken, (int)*n, __ATOMIC_SEQ_CST);
    }
    return rc;
}

/* A claim may start only while the lease written on its row still covers
 * a request: max_wait_ms (here 25 s: a 60 s lease, a 30 s request
 * timeout) after the lease began, not after the claim reached the loop.
 * One whose lease began 30 s before is dropped unsent and stays leased
 * (in_flight) until the lease runs out; a fresh one claimed after it is
 * sent. Counted from the claim instead (the old start_by), both went out. */
static void test_stale_lease_not_sent(void **state)
{
    struct fixture *f = *state;
    f->cfg.lease_ms = 60000;
    f->cfg.request_timeout_ms = 30000;
    static const char *const ok[] = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    struct receiver *r = receiver_open(f, ok, 1);
    struct hook h;
    make_hook(f, &h, r->port, "[\"*\"]", 4, 8);
    publish(f, "post.published", "{\"lease\":\"stale\"}", NULL, 1);

    __atomic_store_n(&stale_taken, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&stale_claims, 1, __ATOMIC_SEQ_CST);
    struct dispatcher *d = dispatcher_open_claiming(f, stale_claim_due);
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    while (__atomic_load_n(&stale_taken, __ATOMIC_SEQ_CST) == 0) {
        if (clock_mono_ms() > end)
            fail_msg("the stale delivery was not claimed in time");
        poll_pause();
    }
    assert_int_equal(__atomic_load_n(&stale_taken, __ATOMIC_SEQ_CST), 1);

    /* Claimed after the stale one was queued, and sent after it would
     * have been: once this one is recorded, the other is settled too. */
    publish(f, "account.connected", "{\"lease\":\"fresh\"}", NULL, 1);
    dispatcher_wake(d);
    wait_succeeded(f, 1);
    struct store_stats st = stats(f);
    assert_int_equal(st.succeeded, 1);
    assert_int_equal(st.in_flight, 1); /* the stale one: dropped from memory, still leased */
    assert_int_equal(st.attempts, 1);
    assert_int_equal(receiver_count(r), 1);
    cJSON *sent = find_event(r, "account.connected");
    assert_non_null(sent);
    assert_string_equal(field(sent, "lease"), "fresh");
    cJSON_Delete(sent);
    assert_null(find_event(r, "post.published"));

    dispatcher_close(f, d); /* release(): the stale one back, pending */
    st = stats(f);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.succeeded, 1);
    receiver_close(f, r);
}

/* ---- the group commit's hand-off ---- */

/* A lease from the dispatcher, once its loop has reported room. */
static const char *lease_when_ready(struct dispatcher *d, int64_t *until)
{
    int64_t end = clock_mono_ms() + DEADLINE_MS;
    const char *owner;
    while (!(owner = dispatcher_lease_cb(d, 1, until))) {
        if (clock_mono_ms() > end)
            fail_msg("the dispatcher never had room for a hand-off");
        poll_pause();
    }
    return owner;
}

/* A receiver answering 200, one webhook to it, and a dispatcher whose loop
 * has reported room: the lease it gave is in owner and until. */
static struct dispatcher *start_for_handoff(struct fixture *f, struct receiver **r,
                                            const char **owner, int64_t *until)
{
    static const char *const ok[] = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
    *r = receiver_open(f, ok, 1);
    struct hook h;
    make_hook(f, &h, (*r)->port, "[\"*\"]", 4, 8);
    struct dispatcher *d = dispatcher_open(f, f->s);
    *owner = lease_when_ready(d, until);
    return d;
}

/* An event published the way the group commit hands it over: born leased
 * to the node, then offered. */
static void publish_leased(struct fixture *f, struct dispatcher *d, const char *owner,
                           int64_t until)
{
    struct store_ingest it;
    memset(&it, 0, sizeof it);
    it.account_id = f->account;
    it.type = "post.published";
    it.data = "{\"handed\":true}";
    it.data_len = strlen(it.data);
    it.created_at = clock_now_ms();
    it.lease_owner = owner;
    it.lease_until = until;
    struct store_claims claims = {0};
    it.leased = &claims;
    id_new(it.id, "evt", it.created_at);
    assert_int_equal(f->s->ops->ingest(f->s, &it, 1), 0);
    assert_int_equal(it.deliveries, 1);
    assert_int_equal(claims.len, 1);
    dispatcher_offer_cb(d, &it, 1, &claims);
    assert_int_equal(claims.len, 0); /* taken */
}

/* Offered, a delivery is sent without a claim or a wake-up: leased for
 * the dispatcher's lease_ms (60 s), nothing else could have claimed it. */
static void test_handoff_is_sent_without_a_claim(void **state)
{
    struct fixture *f = *state;
    struct receiver *r = NULL;
    const char *owner = NULL;
    int64_t until = 0;
    struct dispatcher *d = start_for_handoff(f, &r, &owner, &until);
    assert_string_equal(owner, f->cfg.node_id);
    assert_true(until >= clock_now_ms() + f->cfg.lease_ms - 1000);
    publish_leased(f, d, owner, until);
    wait_succeeded(f, 1);
    dispatcher_close(f, d);
    assert_int_equal(receiver_count(r), 1);
    struct store_stats st = stats(f);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.pending, 0);
    receiver_close(f, r);
}

/* Stopping with offers not yet sent: each is sent and recorded,
 * or given back pending; none stays leased to a node that is gone. */
static void test_stop_gives_back_what_was_offered(void **state)
{
    struct fixture *f = *state;
    struct receiver *r = NULL;
    const char *owner = NULL;
    int64_t until = 0;
    struct dispatcher *d = start_for_handoff(f, &r, &owner, &until);
    for (int i = 0; i < 20; i++)
        publish_leased(f, d, owner, until);
    dispatcher_close(f, d); /* at once */
    struct store_stats st = stats(f);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(st.succeeded + st.pending, 20);
    receiver_close(f, r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retries_then_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhausted_and_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_endpoint_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_surplus_waits_for_the_first_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_surplus_given_back_on_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_surplus_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lanes_send_each_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lanes_share_a_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_loop_keeps_its_transfers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake_after_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_does_not_spin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_lease_not_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hanging_receiver_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhausted_event_does_not_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handoff_is_sent_without_a_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_gives_back_what_was_offered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
