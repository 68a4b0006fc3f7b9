/* libFuzzer target for the subscription matchers of src/core/match.c:
 * match_event_json (the webhook list's ?event= filter, on each stored
 * row's events) and event_patterns_parse/_match (the fan-out of every
 * published event), which read the stored JSON text. The input is the
 * event type, a NUL, then the events text.
 *
 * Checks: no crash, no read or write out of bounds; both matchers give
 * the answer of match.h's rule, restated here on cJSON's reading of the
 * text (a JSON array of strings; each "*", "prefix.*" covering longer
 * types under "prefix.", or an exact type; anything else matches
 * nothing), so the list filter shows exactly the webhooks an event goes
 * to; the parsed patterns are the array's strings, in order. Round trip:
 * what validate_events stores for an accepted list matches exactly what
 * the list the client sent matches. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "core/match.h"
#include "fuzz_input.h"

/* match.h's rule for one pattern. */
static bool covers(const char *pattern, const char *type)
{
    size_t n = strlen(pattern), t = strlen(type);
    if (strcmp(pattern, "*") == 0)
        return true;
    if (n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '*')
        return t > n - 1 && memcmp(pattern, type, n - 1) == 0;
    return strcmp(pattern, type) == 0;
}

/* The reference: the array's string members, in order, and whether one
 * covers type. */
static bool reference(const cJSON *doc, const char *type, const char **strings, size_t *n)
{
    bool hit = false;
    *n = 0;
    if (!cJSON_IsArray(doc))
        return false;
    for (const cJSON *it = doc->child; it; it = it->next) {
        if (!cJSON_IsString(it))
            continue;
        strings[(*n)++] = it->valuestring;
        hit = hit || covers(it->valuestring, type);
    }
    return hit;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *type = fuzz_field(&p, end);
    char *json = fuzz_field(&p, end);
    cJSON *doc = cJSON_Parse(json);
    size_t max = doc ? (size_t)cJSON_GetArraySize(doc) : 0;
    const char **strings = malloc((max ? max : 1) * sizeof *strings);
    if (!strings)
        abort();
    size_t n;
    bool want = reference(doc, type, strings, &n);
    struct event_patterns ep;
    event_patterns_parse(&ep, json);
    if (ep.n != n || event_patterns_match(&ep, type) != want ||
        match_event_json(json, type) != want)
        abort();
    for (size_t i = 0; i < n; i++)
        if (strcmp(ep.p[i], strings[i]) != 0 ||
            match_event(ep.p[i], type) != covers(strings[i], type))
            abort();
    event_patterns_release(&ep);
    /* What the API stores for this list (duplicates dropped) covers the
     * same types. */
    struct verr e;
    char *stored = NULL;
    if (doc && validate_events(doc, false, NULL, NULL, "events", &e, &stored)) {
        if (match_event_json(stored, type) != want)
            abort();
        free(stored);
    }
    free(strings);
    cJSON_Delete(doc);
    free(json);
    free(type);
    return 0;
}
