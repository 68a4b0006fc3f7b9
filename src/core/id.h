/*
 * id.h — prefixed, time-sortable, random identifiers.
 *
 * Layout (ULID-style): "<prefix>_" + 26 Crockford base32 characters; the
 * first 10 encode the creation time in milliseconds, the last 16 carry 80
 * random bits. Ids therefore sort by creation time as plain strings, and
 * are not guessable or sequential.
 *
 * Within one process, an id made in the same millisecond as the id made
 * just before it (by any thread) sorts after it: its 80 bits are the last
 * id's plus a random step, not fresh ones. So ids made one after another
 * sort in the order they were made, even within a millisecond.
 */
#ifndef HERALD_CORE_ID_H
#define HERALD_CORE_ID_H

#include <stdbool.h>
#include <stdint.h>

/* Longest id including its NUL: a 5-char prefix, '_', 26 chars. */
#define HERALD_ID_MAX 40

/* Writes a new id with the given prefix ("evt", "wh", ...) into out. */
void id_new(char out[HERALD_ID_MAX], const char *prefix, int64_t now_ms);

/* True when s looks like an id of this prefix (right length and alphabet).
 * Used to answer 404 early without touching the store. */
bool id_valid(const char *s, const char *prefix);

#endif
