/* libFuzzer target for src/api/jsonspan.c. Beyond "no crash, no read past
 * len", it checks the scanner's promises: a span it reports is itself
 * strict JSON, whatever it accepts cJSON accepts too (the scanner is the
 * stricter of the two, so raw bytes it stores always parse), and an
 * iterator's walk sees the elements, keys and strings cJSON sees. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonspan.h"

/* The decoded string at span (a key or a string value) must be what cJSON
 * read there. */
static void check_string(const char *s, size_t len, struct json_span span, const char *want)
{
    size_t cap = span.end - span.start; /* a string never decodes longer */
    char *got = malloc(cap ? cap : 1);
    if (!got)
        return;
    if (json_string_decode(s, len, span, got, cap) < 0 || strcmp(got, want) != 0)
        abort();
    free(got);
}

/* Walks the container it was entered into, descending depth levels and
 * skipping values below. node is cJSON's parse of the same container (NULL
 * when the text is not valid): the walk must see the same elements, keys
 * and strings. False when the walk refused the input. */
static bool walk(struct json_iter *it, const cJSON *node, int depth)
{
    const cJSON *child = node ? node->child : NULL;
    struct json_key k;
    int rc;
    while ((rc = json_iter_next(it, &k)) == 1) {
        if (node && !child)
            abort(); /* an element cJSON did not see */
        if (child && it->close == '}') {
            size_t n = strlen(child->string);
            if (k.cut != (n >= JSON_KEY_CAP) || strncmp(k.name, child->string, JSON_KEY_CAP - 1))
                abort();
            check_string(it->s, it->len, k.span, child->string);
        }
        struct json_iter in;
        struct json_span v;
        if (depth > 0 && json_iter_enter(&in, it->s, it->len, it->pos)) {
            if (!walk(&in, child, depth - 1))
                return false;
            it->pos = in.pos;
        } else {
            if (!json_iter_skip(it, &v))
                return false;
            if (!json_valid(it->s + v.start, v.end - v.start))
                abort();
            if (cJSON_IsString(child))
                check_string(it->s, it->len, v, child->valuestring);
        }
        child = child ? child->next : NULL;
    }
    if (rc == 0 && child)
        abort(); /* an element the walk did not see */
    return rc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly size bytes, so ASan sees any overread. */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    bool valid = json_valid(s, size);
    cJSON *doc = NULL;
    if (valid && (doc = cJSON_ParseWithLength(s, size)) == NULL)
        abort();
    /* A valid container walks to its end, seeing what cJSON saw. */
    struct json_iter it;
    if (json_iter_enter(&it, s, size, 0)) {
        bool walked = walk(&it, doc, 3);
        if (valid && !walked)
            abort();
    }
    cJSON_Delete(doc);
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
