/* libFuzzer target for the libcurl callbacks of src/dispatch/send.c,
 * attempt_on_header and attempt_on_body, which see whatever a receiver
 * answers. The input plays a response as libcurl hands it over: byte 0
 * sets cfg.response_keep (× 16) and byte 1 cfg.response_read_cap (× 64);
 * then chunks, each a control byte c (bit 0: a header line, else body
 * bytes; c >> 1 bytes follow, 0 meaning the rest of the input) and its
 * bytes. Each chunk is its own allocation, without a NUL, as libcurl's.
 *
 * Checked after every call, against a model kept here: a callback
 * returns what it was given until a cap, then 0, and libcurl calls it no
 * more; the body's first response_keep bytes are kept exactly (and
 * NUL-terminated), every byte is counted, and the cut comes once more
 * than response_read_cap came in, never before; past 200 header lines
 * the header callback cuts; a status line forgets Retry-After, and a
 * Retry-After line sets what attempt_parse_retry_after reads in it at the
 * time of the call, within its range. Then attempt_finish classes a cut
 * transfer that got no status as too_large, and keeps no Retry-After. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/config.h"
#include "dispatch/send.h"
#include "fuzz_input.h"
#include "store/store.h"

#define HEADER_LINES_MAX SEND_RESPONSE_HEADERS_MAX
#define RETRY_AFTER_CAP (100000000L * 1000)

/* What the callbacks should have made of the chunks so far. */
struct model {
    uint8_t *body; /* the first response_keep bytes of the body */
    size_t seen, header_lines;
    long retry_after;
};

static void on_header(struct attempt *a, struct model *m, const uint8_t *p, size_t n, bool *stop)
{
    char *line = fuzz_copy(p, n);
    int64_t before = clock_now_ms();
    size_t rc = attempt_on_header(line, 1, n, a);
    int64_t after = clock_now_ms();
    if (++m->header_lines > HEADER_LINES_MAX) {
        if (rc != 0 || !a->too_many_headers)
            abort();
        *stop = true;
    } else if (rc != n || a->too_many_headers) {
        abort();
    } else if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        m->retry_after = -1;
    } else if (n > 12 && strncasecmp(line, "Retry-After:", 12) == 0) {
        /* A delay shrinks as time passes: what the callback read lies
         * between the readings just before and just after it. */
        long hi = attempt_parse_retry_after(line + 12, n - 12, before);
        long lo = attempt_parse_retry_after(line + 12, n - 12, after);
        long got = a->retry_after_raw;
        if (got < -1 || got > RETRY_AFTER_CAP || got < lo || got > hi || (hi == -1) != (got == -1))
            abort();
        m->retry_after = got;
    }
    if (a->retry_after_raw != m->retry_after)
        abort();
    free(line);
}

static void on_body(struct attempt *a, const struct herald_config *cfg, struct model *m,
                    const uint8_t *p, size_t n, bool *stop)
{
    char *chunk = fuzz_copy(p, n);
    size_t keep_before = m->seen < cfg->response_keep ? m->seen : cfg->response_keep;
    size_t add = n < cfg->response_keep - keep_before ? n : cfg->response_keep - keep_before;
    memcpy(m->body + keep_before, p, add);
    m->seen += n;
    size_t rc = attempt_on_body(chunk, 1, n, a);
    if (m->seen > cfg->response_read_cap) {
        if (rc != 0 || !a->cut)
            abort();
        *stop = true;
    } else if (rc != n || a->cut) {
        abort();
    }
    size_t kept = m->seen < cfg->response_keep ? m->seen : cfg->response_keep;
    if (a->response_seen != m->seen || a->response.len != kept ||
        (kept && (memcmp(a->response.data, m->body, kept) != 0 || a->response.data[kept] != '\0')))
        abort();
    free(chunk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct herald_config cfg;
    config_defaults(&cfg);
    cfg.response_keep = (size_t)data[0] * 16;
    cfg.response_read_cap = (size_t)data[1] * 64;
    /* A prepared attempt, so its buffers and fields are as a transfer
     * finds them (attempt_reset). */
    struct store_webhook w;
    memset(&w, 0, sizeof w);
    w.url = "https://example.com/hook";
    w.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w.headers = "{}";
    struct attempt a;
    memset(&a, 0, sizeof a);
    if (attempt_prepare(&a, &cfg, &w, "evt_1", "post.published", 1700000000000LL, "{}", 2,
                        1700000000000LL) != 0)
        abort();
    struct model m = {.retry_after = -1, .body = malloc(cfg.response_keep + 1)};
    if (!m.body)
        abort();
    bool stop = false;
    const uint8_t *p = data + 2, *end = data + size;
    while (p < end && !stop) {
        uint8_t c = *p++;
        size_t n = c >> 1;
        if (n == 0 || n > (size_t)(end - p))
            n = (size_t)(end - p);
        if (c & 1)
            on_header(&a, &m, p, n, &stop);
        else
            on_body(&a, &cfg, &m, p, n, &stop);
        p += n;
    }
    /* No status line reached attempt_finish (no handle): a transfer the
     * callbacks cut is too_large, any other is a protocol error. */
    bool cut = a.cut || a.too_many_headers;
    attempt_finish(&a, NULL, cut ? CURLE_WRITE_ERROR : CURLE_OK, clock_mono_ms());
    if (!a.error || strcmp(a.error, cut ? "too_large" : "protocol") != 0 || a.retry_after_ms != -1)
        abort();
    free(m.body);
    attempt_release(&a);
    return 0;
}
