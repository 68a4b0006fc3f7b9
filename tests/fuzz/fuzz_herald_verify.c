/* libFuzzer target for herald_verify (lib/verify.c), the receivers'
 * library: every argument from the input (split at NUL bytes: secret, id,
 * timestamp, signature header, body; now and tolerance from the first 16
 * bytes). Checks: no crash or undefined behaviour for any values, a
 * result among the documented ones, and that a signature made by herald's
 * own signer (src/sign) for the same inputs always verifies. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "herald/verify.h"
#include "sign/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16)
        return 0;
    int64_t now, tolerance;
    memcpy(&now, data, 8);
    memcpy(&tolerance, data + 8, 8);
    const uint8_t *p = data + 16, *end = data + size;
    char *secret = fuzz_field(&p, end), *id = fuzz_field(&p, end), *ts = fuzz_field(&p, end),
         *sigs = fuzz_field(&p, end);
    size_t body_len = (size_t)(end - p);
    char *body = fuzz_copy(p, body_len);

    int rc = herald_verify(secret, id, ts, sigs, body, body_len, now, tolerance);
    if (rc > HERALD_VERIFY_OK || rc < HERALD_VERIFY_MISMATCH)
        abort();
    (void)herald_verify_strerror(rc);

    /* Herald's signer and the receivers' library agree on every input the
     * signer takes (a valid secret, an id, a timestamp in range). */
    char sig[SIGN_SIG_MAX], tsbuf[24];
    int64_t t = (now % 4000000000LL + 4000000000LL) % 4000000000LL;
    snprintf(tsbuf, sizeof tsbuf, "%lld", (long long)t);
    if (sign_secret_valid(secret) && *id && sign_v1_secret(secret, id, t, body, body_len, sig) &&
        herald_verify(secret, id, tsbuf, sig, body, body_len, t, 0) != HERALD_VERIFY_OK)
        abort();
    free(secret);
    free(id);
    free(ts);
    free(sigs);
    free(body);
    return 0;
}
