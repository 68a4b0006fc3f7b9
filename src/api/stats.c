/* stats.c — GET /v1/stats: the account's attempts over a recent window, in
 * one-minute buckets, for the dashboard's overview charts. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "api/handlers.h"
#include "core/util.h"
#include "store/store.h"

#define BUCKET_MS 60000
#define WINDOW_DEFAULT_S 3600
#define WINDOW_MAX_S (7 * 24 * 3600) /* a week of minutes: 10 080 buckets at most */

static cJSON *bucket_json(const struct store_bucket *b)
{
    cJSON *o = cJSON_CreateObject();
    json_add_time(o, "start", b->start);
    cJSON_AddNumberToObject(o, "attempts", (double)b->attempts);
    cJSON_AddNumberToObject(o, "succeeded", (double)b->succeeded);
    cJSON_AddNumberToObject(o, "failed", (double)(b->attempts - b->succeeded));
    cJSON_AddNumberToObject(o, "avg_ms",
                            b->attempts ? (double)b->total_ms / (double)b->attempts : 0.0);
    cJSON_AddNumberToObject(o, "max_ms", (double)b->max_ms);
    return o;
}

void api_stats(struct api_req *rq, struct api_resp *rs)
{
    int64_t window = WINDOW_DEFAULT_S;
    const char *w = req_query(rq, "window");
    if (w && !parse_strict_int(w, 60, WINDOW_MAX_S, &window)) {
        resp_error(rs, HTTP_UNPROCESSABLE, "validation_failed", "window",
                   "window must be a number of seconds from 60 to %d", WINDOW_MAX_S);
        return;
    }
    /* Whole buckets only, so the first one is not a partial minute. */
    int64_t since = rq->now - window * 1000;
    since -= since % BUCKET_MS;
    struct store *s = rq->h->store;
    struct store_bucket *b = NULL;
    size_t n = 0;
    int rc = s->ops->attempt_series(s, rq->auth.account_id, since, BUCKET_MS, &b, &n);
    if (rc) {
        resp_store_error(rs, rc, "stats");
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    json_add_time(doc, "since", since);
    cJSON_AddNumberToObject(doc, "bucket_seconds", BUCKET_MS / 1000);
    cJSON *items = cJSON_AddArrayToObject(doc, "buckets");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(items, bucket_json(&b[i]));
    free(b);
    resp_json(rs, HTTP_OK, doc);
}
