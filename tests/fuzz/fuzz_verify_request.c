/* libFuzzer target for the `herald verify` request parser
 * (src/cli/verify.c) and, on what it finds, herald_verify itself: no
 * crash, no read past the input, every pointer it returns inside the
 * input, and a body that ends where the input ends. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/verify_request.h"
#include "herald/verify.h"

static bool inside(const char *p, const char *base, size_t len)
{
    return !p || (p >= base && p <= base + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly size bytes, as cli_verify hands it its buffer (which has a
     * NUL past the end: buf.h keeps one). */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct verify_request r = {0};
    if (verify_parse_request(s, size, &r)) {
        if (!inside(r.id, s, size) || !inside(r.timestamp, s, size) ||
            !inside(r.signature, s, size) || !inside(r.body, s, size) ||
            r.body + r.body_len != s + size)
            abort();
        int rc = herald_verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", r.id, r.timestamp,
                               r.signature, r.body, r.body_len, 1700000000, 300);
        if (rc > 0 || rc < HERALD_VERIFY_MISMATCH)
            abort();
    }
    free(s);
    return 0;
}
