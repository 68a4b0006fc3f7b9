/*
 * util.h — small helpers every module uses.
 *
 * Out-of-memory policy (written down once, as Redis does): allocations of
 * small, fixed or internally bounded size go through xmalloc/xcalloc/
 * xstrdup/xrealloc, which abort the process on failure — there is no useful
 * way to continue and every caller would otherwise carry dead error paths.
 * Allocations whose size comes from input (request bodies, payloads,
 * responses) use plain malloc and fail gracefully with HERALD_ENOMEM.
 */
#ifndef HERALD_CORE_UTIL_H
#define HERALD_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies n bytes and adds a terminating NUL. */
char *xstrndup(const char *s, size_t n);

/* Copies src into dst of size cap, always NUL-terminating. Returns false when
 * src did not fit (dst then holds a truncated copy). */
bool str_copy(char *dst, size_t cap, const char *src);

/* Constant-time equality of two byte strings of the same length. */
bool ct_equal(const void *a, const void *b, size_t n);

/* Fills buf with n cryptographically random bytes; aborts if the system
 * random source fails, since herald cannot make safe ids or secrets. */
void random_bytes(void *buf, size_t n);

/* Lowercase hex of n bytes into out (which needs 2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* SHA-256 of data as 64 lowercase hex chars + NUL into out[65]. */
void sha256_hex(const void *data, size_t n, char out[65]);

/* Standard base64 (with padding). Encode returns the length written; out
 * needs 4*((n+2)/3)+1 bytes. Decode returns the decoded length or -1 on
 * malformed input; out needs 3*(n/4)+3 bytes. */
size_t b64_encode(const unsigned char *in, size_t n, char *out);
long b64_decode(const char *in, size_t n, unsigned char *out);

/* Parses a whole string as a base-10 integer within [min, max]. */
bool parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include "core/banned.h"

#endif
