/* libFuzzer target for json_add_text (src/api/http.c), which puts what a
 * receiver answered (the first 4 KiB of its response body, any bytes at
 * all) into the delivery log's JSON as "response_body". The string it
 * adds must be UTF-8 without NUL, so the log answer is JSON every client
 * can read; a body that already is such text must come back unchanged;
 * and every byte that is not must become exactly one U+FFFD, the rest
 * kept in order. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "api/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly size bytes, as the log keeps them. */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    cJSON *o = cJSON_CreateObject();
    json_add_text(o, "response_body", s, size);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "response_body");
    if (!cJSON_IsString(v))
        abort();
    const char *t = v->valuestring;
    size_t n = strlen(t);
    if (!utf8_valid(t, n))
        abort();
    if (utf8_valid(s, size) && (n != size || memcmp(t, s, size) != 0))
        abort();
    /* Walk both: each input byte is either kept within a valid sequence
     * or replaced by EF BF BD. */
    size_t i = 0, k = 0;
    while (i < size) {
        size_t len = 0;
        for (size_t m = 1; m <= 4 && i + m <= size && !len; m++)
            if (utf8_valid(s + i, m))
                len = m;
        if (len) {
            if (k + len > n || memcmp(t + k, s + i, len) != 0)
                abort();
            i += len;
            k += len;
        } else {
            if (k + 3 > n || memcmp(t + k, "\xEF\xBF\xBD", 3) != 0)
                abort();
            i++;
            k += 3;
        }
    }
    if (k != n)
        abort();
    /* And the log's JSON text parses back to the same string. */
    char *text = cJSON_PrintUnformatted(o);
    cJSON *back = text ? cJSON_Parse(text) : NULL;
    const cJSON *bv = cJSON_GetObjectItemCaseSensitive(back, "response_body");
    if (!text || !cJSON_IsString(bv) || strcmp(bv->valuestring, t) != 0 ||
        !utf8_valid(text, strlen(text)))
        abort();
    cJSON_Delete(back);
    free(text);
    cJSON_Delete(o);
    free(s);
    return 0;
}
