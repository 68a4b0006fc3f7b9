/* libFuzzer target for clock_parse (src/core/clock.c): RFC 3339 or unix
 * seconds from query strings (since, until) and request bodies (recover).
 * Beyond no crash and no undefined behaviour: whatever it accepts formats
 * back to a time that parses to the same millisecond. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ms = 0;
    if (clock_parse(s, &ms)) {
        char text[32];
        int64_t again = 0;
        clock_format(ms, text);
        /* Years outside 0000-9999 have no RFC 3339 form to come back to. */
        if (ms >= -62135596800000LL && ms <= 253402300799999LL &&
            (!clock_parse(text, &again) || again != ms))
            abort();
    }
    free(s);
    return 0;
}
