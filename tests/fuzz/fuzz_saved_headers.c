/* libFuzzer target for the headers of a saved request as `herald verify`
 * gives them to every scheme: verify_request_header() over what
 * verify_request_parse() (src/cli/verify.c) kept. The input is the saved
 * request. (fuzz_verify_request checks the parse itself.)
 *
 * Checks: no crash, no read past the input (it need not end in a NUL);
 * every kept header is found by its name in any case, and the lookup
 * answers the first header of that name, the one both modes read; every
 * scheme, the standard one included, runs on the lookup without an
 * unknown result. Round trip: the headers written back as a request
 * behind the headers of a GitHub and of a Standard Webhooks signature,
 * made for the body the parse found (NULs and all), parse to the same
 * headers, and both modes accept their signature, as cli_verify() calls
 * them: the signature headers put first win over any the input repeats. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/verify_request.h"
#include "core/buf.h"
#include "fuzz_input.h"
#include "herald/verify.h"
#include "sign/dialect.h"
#include "sign/sign.h"

#define SECRET "my_php_secret" /* the dialect seeds' signatures use it */
#define STANDARD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define NOW 1700000000

static void check_lookup(struct verify_request *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *name = r->name[i];
        size_t first = 0;
        while (strcasecmp(r->name[first], name) != 0)
            first++;
        char upper[256];
        size_t k = 0;
        for (; name[k] && k < sizeof upper - 1; k++)
            upper[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
        upper[k] = '\0';
        if (verify_request_header(r, name) != r->value[first] ||
            (!name[k] && verify_request_header(r, upper) != r->value[first]))
            abort();
    }
    if (verify_request_header(r, "no:such") != NULL) /* no name holds a colon */
        abort();
}

/* The headers of r behind a GitHub and a Standard Webhooks signature of
 * body, as a saved request: parsed again they must be the same, and both
 * signatures must verify. */
static void round_trip(const struct verify_request *r, const char *body, size_t body_len)
{
    unsigned char key[64];
    int kl = sign_dialect_key(SECRET, key);
    char gh[SIGN_DIALECT_VALUE_MAX], v1[SIGN_SIG_MAX];
    sign_dialect(SCHEME_GITHUB, key, kl, NULL, 0, NOW, body, body_len, gh);
    if (!sign_v1_secret(STANDARD_SECRET, "msg_rt", NOW, body, body_len, v1))
        abort();
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    int rc = buf_printf(&b,
                        "POST /hook HTTP/1.1\r\nX-Hub-Signature-256: %s\r\nwebhook-id: msg_rt\r\n"
                        "webhook-timestamp: %d\r\nwebhook-signature: %s",
                        gh, NOW, v1);
    for (size_t i = 0; rc == 0 && i < r->n; i++)
        rc = buf_printf(&b, "\r\n%s: %s", r->name[i], r->value[i]);
    rc = rc ? rc : buf_append(&b, "\r\n\r\n", 4);
    rc = rc ? rc : buf_append(&b, body, body_len);
    if (rc)
        abort();
    struct verify_request back;
    if (!verify_request_parse(&back, b.data, b.len))
        abort();
    size_t total = r->n + 4;
    size_t want = total < VERIFY_REQUEST_HEADERS_MAX ? total : VERIFY_REQUEST_HEADERS_MAX;
    if (back.n != want || back.skipped != 0 || back.dropped != total - want)
        abort();
    for (size_t i = 4; i < back.n; i++)
        if (strcmp(back.name[i], r->name[i - 4]) != 0 ||
            strcmp(back.value[i], r->value[i - 4]) != 0)
            abort();
    if (back.body_len != body_len || memcmp(back.body, body, body_len) != 0)
        abort();
    struct herald_verify_options o = {.scheme = HERALD_SCHEME_GITHUB, .now = NOW};
    if (herald_verify_request(SECRET, &o, verify_request_header, &back, back.body, back.body_len) !=
        HERALD_VERIFY_OK)
        abort();
    o = (struct herald_verify_options){
        .scheme = HERALD_SCHEME_STANDARD, .now = NOW, .tolerance = 300};
    if (herald_verify_request(STANDARD_SECRET, &o, verify_request_header, &back, back.body,
                              back.body_len) != HERALD_VERIFY_OK)
        abort();
    buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly size bytes, no NUL after them: cli_verify's buffer has one,
     * but the parser is given a length and must not need it. */
    char *in = fuzz_copy(data, size);
    struct verify_request r;
    if (!verify_request_parse(&r, in, size)) {
        /* No body to check: cli_verify stops here. Round trip the empty
         * request all the same. */
        r.body = "";
        r.body_len = 0;
    }
    check_lookup(&r);
    /* Every scheme reads what it needs through verify_request_header(). */
    for (int scheme = HERALD_SCHEME_STANDARD; scheme <= HERALD_SCHEME_TIMESTAMPED_HEX; scheme++) {
        struct herald_verify_options o = {.scheme = scheme, .now = NOW, .tolerance = 300};
        const char *secret = scheme == HERALD_SCHEME_STANDARD ? STANDARD_SECRET : SECRET;
        int rc = herald_verify_request(secret, &o, verify_request_header, &r, r.body, r.body_len);
        if (rc > 0 || rc < HERALD_VERIFY_BAD_SCHEME)
            abort();
    }
    round_trip(&r, r.body, r.body_len);
    free(in);
    return 0;
}
