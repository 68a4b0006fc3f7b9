/*
 * jsonspan.h — finding the exact bytes of a JSON value inside a request body.
 *
 * herald stores an event's `data` byte for byte as it was published and
 * never re-serialises it (DESIGN.md §4). cJSON parses a body into a tree,
 * but it cannot say where in the text a value started; this small scanner
 * can, and walks an ingest request without a tree at all (events.c). It is
 * also a strict RFC 8259 checker: everything it walks over must be
 * well-formed JSON (no raw control characters in strings, valid escapes and
 * UTF-8, the number grammar, bounded nesting), so the bytes herald stores
 * and later sends are JSON every receiver can parse, even where cJSON
 * would have been lenient.
 *
 * Every function reads only s[0..len) and never allocates; none needs a
 * terminating NUL. Nesting deeper than JSONSPAN_MAX_DEPTH is refused.
 */
#ifndef HERALD_API_JSONSPAN_H
#define HERALD_API_JSONSPAN_H

#include <stdbool.h>
#include <stddef.h>

#define JSONSPAN_MAX_DEPTH 512

/* A value's bytes are s[start..end): from its first byte to just after its
 * last, without surrounding whitespace. */
struct json_span {
    size_t start, end;
};

/* True when s[0..len) is exactly one strict JSON value, optionally
 * surrounded by whitespace (space, tab, CR, LF). */
bool json_valid(const char *s, size_t len);

/* Skips one strict JSON value starting at s[*pos] (leading whitespace
 * allowed). On success *pos is just after the value and span (if non-NULL)
 * holds its bytes. False on malformed input; *pos is then unspecified. */
bool json_skip_value(const char *s, size_t len, size_t *pos, struct json_span *span);

/* s[0..len) must be one JSON object (whitespace around allowed). Finds the
 * member of that object (not of nested ones) whose key, once its escapes
 * are decoded, equals key, and writes the span of its value. Returns how
 * many members carry that key (0 when absent; more than 1 for duplicate
 * keys, with span describing the first, which is the one cJSON reports), or
 * -1 when s is not a strict JSON object. */
int json_member_span(const char *s, size_t len, const char *key, struct json_span *span);

/* s[0..len) must be one JSON array. Writes the spans of its first max
 * elements (offsets relative to s) and returns the element count, which may
 * exceed max; -1 when s is not a strict JSON array. */
long json_array_spans(const char *s, size_t len, struct json_span *out, size_t max);

/* cJSON ends a string at a decoded NUL, so "a\u0000b" reads as "a": a
 * field check would pass on a value that is not what was sent. These find
 * such escapes so callers can refuse them where cJSON reads the text. */

/* Offset of the backslash of the first \u0000 escape at or after from, in
 * any string (key or value) of s, or -1. s must be strict JSON. */
long json_find_nul_escape(const char *s, size_t len, size_t from);

/* s must be one JSON object. Writes the decoded key of the top-level
 * member whose key or value covers offset into key[cap] (truncated at a
 * decoded NUL or at cap - 1) and returns true; false when none does. */
bool json_member_at(const char *s, size_t len, size_t offset, char *key, size_t cap);

/* Walking a container one element at a time. json_member_span and
 * json_array_spans walk a whole value each time they are asked; a caller
 * that needs several members, or members of members, walks the text once
 * with an iterator: for each element it either skips the value
 * (json_iter_skip) or descends into it with an iterator of its own. The
 * iterator checks the grammar of what it walks as strictly as json_valid,
 * but bounds nesting only within each skipped value: a caller descending
 * by hand bounds its own depth. */

#define JSON_KEY_CAP 64

/* An object member's key, as json_iter_next() read it. */
struct json_key {
    struct json_span span; /* its JSON string, quotes included */
    /* Decoded as cJSON reads it (escapes decoded, ending at a decoded NUL)
     * and NUL-terminated; cut to JSON_KEY_CAP - 1 bytes, then cut is set. */
    char name[JSON_KEY_CAP];
    bool cut;
};

struct json_iter {
    const char *s;
    size_t len;
    size_t pos;   /* the next byte to read (see json_iter_next) */
    size_t start; /* the container's opening bracket */
    char close;   /* '}' for an object, ']' for an array */
    bool started; /* an element was read: the next one follows a comma */
};

/* Starts walking the object or array whose opening bracket is s[pos]
 * (whitespace before it allowed). False, it untouched, when there is none. */
bool json_iter_enter(struct json_iter *it, const char *s, size_t len, size_t pos);

/* Reads up to the next element. Returns 1 with it->pos at the element's
 * value (its first byte) and, in an object, its key in key (when non-NULL);
 * the caller must then consume that value, with json_iter_skip or by
 * walking it with json_iter_enter(&inner, it->s, it->len, it->pos) to its
 * end and setting it->pos = inner.pos. Returns 0 at the container's end,
 * it->pos just past its closing bracket (call no more), or -1 on malformed
 * input. */
int json_iter_next(struct json_iter *it, struct json_key *key);

/* Consumes the value at it->pos, writing its span when span is non-NULL.
 * False on malformed input. */
bool json_iter_skip(struct json_iter *it, struct json_span *span);

/* Decodes the JSON string s[str.start..str.end) (quotes included) into
 * out[cap] as cJSON reads it: escapes decoded, ending at a decoded NUL,
 * NUL-terminated. Returns the decoded length, or -1 when str is not exactly
 * one strict JSON string or its text does not fit in cap - 1 bytes. A
 * string never decodes to more bytes than its JSON text minus the quotes. */
long json_string_decode(const char *s, size_t len, struct json_span str, char *out, size_t cap);

#endif
