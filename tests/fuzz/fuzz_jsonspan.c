/* libFuzzer target for src/api/jsonspan.c. Beyond "no crash, no read past
 * len", it checks the scanner's promises: a span it reports is itself
 * strict JSON, and whatever it accepts cJSON accepts too (the scanner is
 * the stricter of the two, so raw bytes it stores always parse). */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonspan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly size bytes, so ASan sees any overread. */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    bool valid = json_valid(s, size);
    if (valid) {
        cJSON *doc = cJSON_ParseWithLength(s, size);
        if (!doc)
            abort();
        cJSON_Delete(doc);
    }
    struct json_span sp;
    int n = json_member_span(s, size, "data", &sp);
    if (n > 0) {
        if (!valid || sp.end > size || sp.start >= sp.end ||
            !json_valid(s + sp.start, sp.end - sp.start))
            abort();
    }
    if (n >= 0 && !valid)
        abort();
    /* Every \u0000 escape of a valid object lies in some member. */
    if (n >= 0) {
        long at = 0;
        char key[32];
        while ((at = json_find_nul_escape(s, size, (size_t)at)) >= 0) {
            if ((size_t)at >= size || !json_member_at(s, size, (size_t)at, key, sizeof key))
                abort();
            at++;
        }
    }
    struct json_span el[16];
    long k = json_array_spans(s, size, el, 16);
    for (long i = 0; i < k && i < 16; i++)
        if (el[i].end > size || !json_valid(s + el[i].start, el[i].end - el[i].start))
            abort();
    free(s);
    return 0;
}
