/* libFuzzer target for the Retry-After parser of src/dispatch/send.c
 * (delay-seconds or an HTTP-date, RFC 9110 §10.2.3), which reads a header
 * any receiver chooses. No crash, no undefined behaviour, and a result
 * that is -1 (ignored) or a delay of at least 0 ms. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/send.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly size bytes, no NUL: the parser gets the raw header line. */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    long ms = attempt_parse_retry_after(s, size, 1700000000000LL);
    if (ms < -1)
        abort();
    free(s);
    return 0;
}
