/*
 * store_bench.c — the store's share of one delivery, without the network.
 *
 *   store_bench DB_URL N [BATCH]
 *
 * Ingests N events for one webhook, then drains them the way the dispatcher
 * does (claim_due a batch, record a batch of successes) and prints the cost
 * per delivery of each half. Run it under `valgrind --tool=callgrind` to get
 * instruction counts, which do not move with the machine's load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/id.h"
#include "store/store.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: store_bench DB_URL N [BATCH]\n");
        return 2;
    }
    size_t n = strtoul(argv[2], NULL, 10), batch = argc > 3 ? strtoul(argv[3], NULL, 10) : 256;
    struct store *s;
    if (store_open(argv[1], 2, &s) != 0)
        return 1;
    int64_t t = clock_now_ms();
    struct store_account a = {.created_at = t};
    id_new(a.id, "acct", t);
    snprintf(a.name, sizeof a.name, "bench");
    struct store_webhook w = {.name = "w",
                              .description = "",
                              .url = "http://127.0.0.1:1/",
                              .events = "[\"*\"]",
                              .headers = "{}",
                              .max_attempts = 4,
                              .max_in_flight = 32,
                              .enabled = true,
                              .secret = "whsec_x",
                              .created_at = t,
                              .modified_at = t};
    id_new(w.id, "wh", t);
    memcpy(w.account_id, a.id, sizeof a.id);
    snprintf(w.method, sizeof w.method, "POST");
    snprintf(w.content_type, sizeof w.content_type, "application/json");
    snprintf(w.kind, sizeof w.kind, "webhook");
    snprintf(w.signature_scheme, sizeof w.signature_scheme, "standard");
    if (s->ops->account_create(s, &a) || s->ops->webhook_create(s, &w))
        return 1;

    char data[480];
    memset(data, 'x', sizeof data);
    data[0] = '{';
    memcpy(data + 1, "\"pad\":\"", 7);
    memcpy(data + sizeof data - 2, "\"}", 2);
    struct store_ingest *items = calloc(1000, sizeof *items);
    double t0 = now_us();
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 1000 ? n - done : 1000;
        for (size_t i = 0; i < k; i++) {
            memset(&items[i], 0, sizeof items[i]);
            items[i].account_id = a.id;
            items[i].type = "post.published";
            items[i].data = data;
            items[i].data_len = sizeof data;
            items[i].created_at = clock_now_ms() - 1000;
            id_new(items[i].id, "evt", items[i].created_at);
        }
        if (s->ops->ingest(s, items, k))
            return 1;
        done += k;
    }
    double t_ingest = now_us() - t0;

    struct store_result *res = calloc(batch, sizeof *res);
    const char *headers =
        "{\"content-type\":\"application/json\",\"user-agent\":\"herald/0.1.0\","
        "\"webhook-id\":\"evt_01M8\",\"webhook-timestamp\":\"1795398468\","
        "\"webhook-signature\":\"v1,Q+bS8hSagMaKajkfHMKGDMYtSV3/PT8I4XJ7GUASJtM=\"}";
    double t_claim = 0, t_record = 0;
    size_t total = 0;
    for (;;) {
        struct store_claim *c = NULL;
        size_t got = 0;
        int64_t now = clock_now_ms();
        double c0 = now_us();
        if (s->ops->claim_due(s, "bench", now, now + 60000, batch, &c, &got))
            return 1;
        t_claim += now_us() - c0;
        if (got == 0)
            break;
        for (size_t i = 0; i < got; i++) {
            struct store_result *r = &res[i];
            memset(r, 0, sizeof *r);
            r->delivery_id = c[i].delivery_id;
            r->account_id = c[i].account_id;
            r->event_id = c[i].event_id;
            r->webhook_id = c[i].webhook_id;
            r->event_type = c[i].event_type;
            id_new(r->attempt_id, "att", now);
            r->n = 1;
            r->started_at = now;
            r->duration_ms = 1;
            r->response_code = 200;
            r->response_body = "";
            r->request_headers = headers;
            r->outcome = STORE_SUCCEEDED;
            r->row = c[i].row;
        }
        double r0 = now_us();
        if (s->ops->record(s, "bench", res, got, NULL, 0))
            return 1;
        t_record += now_us() - r0;
        total += got;
        store_claims_free(c, got);
    }
    printf("{\"deliveries\":%zu,\"ingest_us\":%.2f,\"claim_us\":%.2f,\"record_us\":%.2f}\n", total,
           t_ingest / n, t_claim / total, t_record / total);
    free(res);
    free(items);
    store_close(s);
    return total == n ? 0 : 1;
}
