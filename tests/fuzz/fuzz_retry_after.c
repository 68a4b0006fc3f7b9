/* libFuzzer target for the Retry-After parser of src/dispatch/send.c
 * (delay-seconds or an HTTP-date, RFC 9110 §10.2.3), which reads a header
 * any receiver chooses. No crash, no undefined behaviour, and a result
 * that is -1 (ignored) or a delay from 0 ms to the parser's cap of
 * 100 000 000 s; and delay-seconds (digits, with the blanks and line end
 * a header line may carry around them) within that cap mean exactly that
 * many seconds, and beyond it the cap. */
#include <stdbool.h>
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
    if (ms < -1 || ms > 100000000L * 1000)
        abort();
    /* The value without the blanks before it and the blanks and CR LF
     * after it: if it is only digits, it is delay-seconds. */
    size_t a = 0, b = size;
    while (a < b && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n'))
        b--;
    long secs = 0;
    size_t i = a;
    for (; i < b && s[i] >= '0' && s[i] <= '9' && secs <= 100000000; i++)
        secs = secs * 10 + (s[i] - '0');
    size_t d = a;
    while (d < b && s[d] >= '0' && s[d] <= '9')
        d++;
    /* (The parser looks at values of under 128 bytes only.) */
    bool digits = a < b && d == b && b - a < 128;
    if (digits && i == b && secs <= 100000000 && ms != secs * 1000)
        abort();
    /* More delay-seconds than the cap: the cap, as a far-off date gets. */
    if (digits && (i < b || secs > 100000000) && ms != 100000000L * 1000)
        abort();
    free(s);
    return 0;
}
