/*
 * match.h — which event types a webhook's subscription covers.
 *
 * A subscription is a list of names and patterns: an exact type
 * ("post.published"), "*" for every type, or a prefix ending in ".*"
 * ("post.*" covers "post.published" and "post.media.ready", not "post").
 */
#ifndef HERALD_CORE_MATCH_H
#define HERALD_CORE_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/* True when one pattern covers the event type. */
bool match_event(const char *pattern, const char *type);

/* True when any pattern of a JSON array of strings (as stored, e.g.
 * ["post.*","account.connected"]) covers the type. Malformed JSON, or
 * JSON other than an array, matches nothing. */
bool match_event_json(const char *events_json, const char *type);

/* A subscription parsed once, for matching many events against it (the
 * stores' fan-out). Parse never fails: malformed JSON, JSON other than
 * an array, or non-string members give patterns that match nothing. */
struct event_patterns {
    char **p;
    size_t n;
};
void event_patterns_parse(struct event_patterns *ep, const char *events_json);
bool event_patterns_match(const struct event_patterns *ep, const char *type);
void event_patterns_release(struct event_patterns *ep);

/* True when s is a syntactically valid event type name: 1–100 chars of
 * [A-Za-z0-9_-] separated by single dots, not starting or ending with one. */
bool event_type_name_valid(const char *s);

/* True when s is a valid pattern: "*", a valid name, or a valid name
 * followed by ".*". */
bool event_pattern_valid(const char *s);

#endif
