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
#include "integrations/chat.h"
#include "sign/dialect.h"
#include "sign/sign.h"
#include "store/store.h"

/* What the sender takes from a stored webhook's custom headers (a floor
 * under the API's own, tighter caps: a hand-edited row beyond these is
 * cut, not sent), and how many response header lines it reads before it
 * ends the transfer. */
#define SEND_CUSTOM_HEADERS_MAX 64
#define SEND_HEADER_NAME_MAX 128
#define SEND_HEADER_VALUE_MAX 4096
#define SEND_RESPONSE_HEADERS_MAX 200

/* One attempt in progress: the request herald sends and what came back. */
struct attempt {
    /* request */
    char *url;
    char method[8];
    struct buf body;            /* what is POSTed */
    struct curl_slist *headers; /* the list libcurl sends: hnodes, linked */
    struct buf htext;           /* the header lines, NUL-separated */
    struct curl_slist *hnodes;  /* one per line, pointing into htext */
    size_t n_hnodes, cap_hnodes;
    struct buf request_headers; /* JSON object text of the headers sent, for the log */
    /* response */
    struct buf response;  /* first cfg->response_keep bytes */
    size_t response_seen; /* bytes received in all */
    bool cut;             /* read cap hit: transfer aborted on purpose */
    long retry_after_ms;  /* from Retry-After on 429/503, -1 when absent */
    /* outcome */
    int64_t started_at; /* wall clock ms */
    int64_t started_mono;
    int64_t duration_ms;
    int response_code;
    const char *error; /* static string, NULL on success */
    char errbuf[CURL_ERROR_SIZE];
    /* set by attempt_configure and the transfer callbacks */
    const struct herald_config *cfg; /* borrowed; read by the callbacks */
    bool blocked;                    /* the SSRF guard refused an address */
    bool too_many_headers;           /* header count cap hit: transfer aborted */
    int n_headers;                   /* response header lines seen */
    long retry_after_raw;            /* last Retry-After seen, ms, -1 when none */
};

/* What attempts derive from one webhook version, computed once so the hot
 * path neither base64-decodes secrets nor parses the custom headers JSON
 * per request. The dispatcher keeps one per cached webhook.
 *
 * The request's shape follows the webhook (docs/integrations.md):
 *  - kind slack/discord: the body is a chat message (integrations/chat.h),
 *    always JSON; no signature is sent (the incoming-webhook URL is the
 *    credential), webhook-id and webhook-timestamp still are;
 *  - payload_format rows: the flat body of integrations/rows.h;
 *  - signature_scheme: standard sends webhook-signature; a dialect
 *    (sign/dialect.h) sends its own header(s) instead, keyed with the
 *    secret text's bytes. */
struct send_target {
    const struct store_webhook *w; /* borrowed; must outlive the target */
    int n_keys;                    /* 0 when the current secret is malformed */
    int key_len[2];
    unsigned char key[2][64]; /* [0] current secret, [1] previous one */
    struct sign_key skey[2];  /* the same, prepared (standard scheme) */
    int64_t prev_expires_at;  /* key[1] signs while now < this */
    enum sign_scheme scheme;
    bool chat; /* kind slack or discord: chat_kind says which */
    enum chat_kind chat_kind;
    bool rows;           /* payload_format rows */
    bool form;           /* content type application/x-www-form-urlencoded */
    char sig_header[72]; /* a dialect's signature header name, "" for standard */
    char ts_header[72];  /* timestamped-hex's timestamp header name, else "" */
    char **custom;       /* owned "Name: value" ("Name;" if empty) lines of w->headers */
    size_t n_custom;
    char *custom_json; /* owned ",\"Name\":\"value\"..." for the log, "" when none */
};

/* Builds t from w (which t borrows). Never fails: the API validated the
 * webhook, so anything odd here is skipped rather than fatal — a malformed
 * secret leaves n_keys at 0 (attempts then fail with HERALD_ECRYPTO), and
 * custom headers that are not strings, have unprintable names or values,
 * or name a header herald sets itself, a hop-by-hop one or one under
 * the Proxy-* and Webhook-* prefixes (sign/dialect.h) are left out.
 * A custom value is sent without the blanks around it (RFC 9110 §5.5), so
 * one of blanks alone goes out empty, as the log says. */
void send_target_init(struct send_target *t, const struct store_webhook *w);
/* Frees what t holds and wipes the keys. */
void send_target_release(struct send_target *t);

/* attempt_prepare() with a prepared target. a may be zeroed memory or an
 * attempt prepared before (its buffers are reused, so a dispatcher that
 * recycles attempts allocates nothing in steady state). HERALD_ECRYPTO when
 * the webhook has no usable secret, HERALD_ENOMEM/HERALD_ETOOBIG when the
 * body cannot be built. */
int attempt_prepare_target(struct attempt *a, const struct herald_config *cfg,
                           const struct send_target *t, const char *event_id,
                           const char *event_type, int64_t event_created_at, const char *data,
                           size_t data_len, int64_t now_ms);

/* Prepares a: builds the body {"id","type","timestamp","data"} (data copied
 * byte for byte), the signature headers for every active secret of w, the
 * webhook's custom headers, and resets the outcome fields. now_ms is this
 * attempt's time (webhook-timestamp, started_at). a must be zeroed memory
 * or an attempt prepared before; release it with attempt_release(), also
 * after an error. Errors as attempt_prepare_target(). */
int attempt_prepare(struct attempt *a, const struct herald_config *cfg,
                    const struct store_webhook *w, const char *event_id, const char *event_type,
                    int64_t event_created_at, const char *data, size_t data_len, int64_t now_ms);

/* Configures an easy handle for a (URL, method, body, headers, timeouts,
 * no redirects, no proxy, protocols http/https, read cap, SSRF guard). The
 * handle's private pointer is set to a. The body and headers are not
 * copied: a must stay unchanged until the transfer ended. Every option
 * herald relies on is set each time, so a handle may be reused for another
 * attempt as it is, without curl_easy_reset(). */
void attempt_configure(struct attempt *a, CURL *easy, const struct herald_config *cfg);

/* attempt_configure in two halves, for a handle that only ever carries
 * attempt a (the dispatcher's recycled transfers): _handle once, for what
 * depends on a and cfg alone (timeouts, callbacks, protocols, TLS checks,
 * SSRF guard, no proxy or redirects); _request before each attempt, for
 * URL, method, body and headers. Setting ~25 options per request showed
 * in the dispatcher's profile. */
void attempt_configure_handle(struct attempt *a, CURL *easy, const struct herald_config *cfg);
void attempt_configure_request(struct attempt *a, CURL *easy);

/* Fills outcome fields after the transfer ended, at ended_mono
 * (clock_mono_ms(); the duration counts from attempt_configure_request to
 * it), with result rc: error is
 * NULL for a 2xx (also when the transfer was cut on purpose at the read cap
 * after a 2xx status: the receiver did answer), "http" for any other status
 * (3xx included, redirects are never followed), else the transport class:
 * timeout, connect, dns, tls, blocked, reset, too_large, protocol, error.
 * retry_after_ms is kept only for 429 and 503. easy may be NULL (nothing
 * was performed): the response code is then 0. */
void attempt_finish(struct attempt *a, CURL *easy, CURLcode rc, int64_t ended_mono);

/* Parses the value of a Retry-After header, v[0..n) (no NUL needed;
 * surrounding blanks and a line end are ignored): delay-seconds, or an
 * HTTP-date read relative to now_ms (a date in the past is 0). Returns the
 * delay in ms, or -1 when the value is neither. Exposed for the fuzz
 * target and unit tests. */
long attempt_parse_retry_after(const char *v, size_t n, int64_t now_ms);

/* The transfer callbacks attempt_configure_handle() installs, userdata
 * being the attempt (prepared, so its cfg and buffers are set). Exposed
 * for the fuzz target (fuzz_send_callbacks); herald itself only hands
 * them to libcurl.
 *
 * attempt_on_body (CURLOPT_WRITEFUNCTION) keeps the first
 * cfg->response_keep bytes of the body in a->response, counts every byte
 * in a->response_seen, and returns size * nmemb, or 0 (libcurl then ends
 * the transfer with CURLE_WRITE_ERROR) once more than
 * cfg->response_read_cap bytes came in, setting a->cut.
 *
 * attempt_on_header (CURLOPT_HEADERFUNCTION) gets one header line (no NUL,
 * line end included) and returns size * nitems, or 0 past
 * SEND_RESPONSE_HEADERS_MAX lines, setting a->too_many_headers. A status
 * line ("HTTP/…") resets a->retry_after_raw to -1; a Retry-After line sets
 * it to attempt_parse_retry_after() of its value at the current time. */
size_t attempt_on_body(char *ptr, size_t size, size_t nmemb, void *userdata);
size_t attempt_on_header(char *ptr, size_t size, size_t nitems, void *userdata);

/* Performs a prepared attempt synchronously on the calling thread with
 * its own easy handle (the API's test send), then attempt_finish(). */
void attempt_perform(struct attempt *a, const struct herald_config *cfg);

/* Frees what a holds. */
void attempt_release(struct attempt *a);

#endif
