#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/match.h"
#include "core/util.h"

bool match_event(const char *pattern, const char *type)
{
    if (strcmp(pattern, "*") == 0)
        return true;
    size_t n = strlen(pattern);
    if (n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '*')
        return strncmp(pattern, type, n - 1) == 0 && type[n - 1] != '\0';
    return strcmp(pattern, type) == 0;
}

/* The stored subscription as an array, or NULL when it is none: cJSON's
 * ArrayForEach walks an object's members too, which are no patterns. */
static cJSON *parse_array(const char *events_json)
{
    cJSON *arr = cJSON_Parse(events_json);
    if (cJSON_IsArray(arr))
        return arr;
    cJSON_Delete(arr);
    return NULL;
}

bool match_event_json(const char *events_json, const char *type)
{
    cJSON *arr = parse_array(events_json);
    bool hit = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && match_event(it->valuestring, type)) {
            hit = true;
            break;
        }
    }
    cJSON_Delete(arr);
    return hit;
}

void event_patterns_parse(struct event_patterns *ep, const char *events_json)
{
    cJSON *arr = parse_array(events_json);
    int n = cJSON_GetArraySize(arr);
    ep->p = xcalloc((size_t)(n > 0 ? n : 1), sizeof *ep->p);
    ep->n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it))
            ep->p[ep->n++] = xstrdup(it->valuestring);
    }
    cJSON_Delete(arr);
}

bool event_patterns_match(const struct event_patterns *ep, const char *type)
{
    for (size_t i = 0; i < ep->n; i++)
        if (match_event(ep->p[i], type))
            return true;
    return false;
}

void event_patterns_release(struct event_patterns *ep)
{
    for (size_t i = 0; i < ep->n; i++)
        free(ep->p[i]);
    free(ep->p);
    ep->p = NULL;
    ep->n = 0;
}

bool event_type_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (!isalnum(c) && c != '_' && c != '-') {
            return false;
        }
    }
    return true;
}

bool event_pattern_valid(const char *s)
{
    if (strcmp(s, "*") == 0)
        return true;
    size_t n = strlen(s);
    if (n > 2 && s[n - 2] == '.' && s[n - 1] == '*') {
        char head[128];
        if (n - 2 >= sizeof head)
            return false;
        memcpy(head, s, n - 2);
        head[n - 2] = '\0';
        return event_type_name_valid(head);
    }
    return event_type_name_valid(s);
}
