/* fuzz_input.h — cutting a fuzz input into the arguments of the code
 * under test. Each piece is its own allocation of exactly its size (plus
 * the NUL a C string needs), so AddressSanitizer reports a read past it;
 * the caller frees it. Out of memory aborts: a target can do nothing
 * better. Helpers are static inline, so a target that uses only some of
 * them builds without warnings. */
#ifndef HERALD_FUZZ_INPUT_H
#define HERALD_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* data[0..n) alone, without a NUL after it. */
static inline char *fuzz_copy(const void *data, size_t n)
{
    char *s = malloc(n ? n : 1);
    if (!s)
        abort();
    memcpy(s, data, n);
    return s;
}

/* data[0..n) as a C string: the bytes, then a NUL. */
static inline char *fuzz_cstr(const void *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* The next NUL-separated field of [*p, end) as a C string; *p moves past
 * it and its NUL (to end when there is none). */
static inline char *fuzz_field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
    const uint8_t *stop = nul ? nul : end;
    char *s = fuzz_cstr(*p, (size_t)(stop - *p));
    *p = nul ? nul + 1 : end;
    return s;
}

#endif
