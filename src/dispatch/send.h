/*
 * send.h — building, performing and judging one delivery attempt.
 *
 * Shared by the dispatcher (many attempts at once through curl multi) and
 * the API's synchronous test send (one attempt through curl easy), so both
 * produce exactly the same request (DESIGN.md §4) and the same log entry.
 */
#ifndef HERALD_DISPATCH_SEND_H
#define HERALD_DISPATCH_SEND_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "store/store.h"

/* One attempt in progress: the request herald sends and what came back. */
struct attempt {
    /* request */
    char *url;
    char method[8];
    struct buf body;             /* what is POSTed */
    struct curl_slist *headers;  /* owned */
    struct buf request_headers;  /* JSON object text of the headers sent, for the log */
    /* response */
    struct buf response;         /* first cfg->response_keep bytes */
    size_t response_seen;        /* bytes received in all */
    bool cut;                    /* read cap hit: transfer aborted on purpose */
    long retry_after_ms;         /* from Retry-After on 429/503, -1 when absent */
    /* outcome */
    int64_t started_at;          /* wall clock ms */
    int64_t started_mono;
    int64_t duration_ms;
    int response_code;
    const char *error;           /* static string, NULL on success */
    char errbuf[CURL_ERROR_SIZE];
};

/* Prepares a: builds the body {"id","type","timestamp","data"} (data copied
 * byte for byte), the signature headers for every active secret of w, the
 * webhook's custom headers. now_ms is this attempt's time. */
int attempt_prepare(struct attempt *a, const struct herald_config *cfg,
                    const struct store_webhook *w, const char *event_id, const char *event_type,
                    int64_t event_created_at, const char *data, size_t data_len, int64_t now_ms);

/* Configures an easy handle for a (URL, method, body, headers, timeouts,
 * no redirects, no proxy, protocols http/https, read cap, SSRF guard). The
 * handle's private pointer is set to a. */
void attempt_configure(struct attempt *a, CURL *easy, const struct herald_config *cfg);

/* Fills outcome fields after the transfer ended with result rc. */
void attempt_finish(struct attempt *a, CURL *easy, CURLcode rc);

/* Performs a prepared attempt synchronously on the calling thread with
 * its own easy handle (the API's test send), then attempt_finish(). */
void attempt_perform(struct attempt *a, const struct herald_config *cfg);

/* Frees what a holds. */
void attempt_release(struct attempt *a);

#endif
