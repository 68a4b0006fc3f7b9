#include <stdio.h>
#include <string.h>

#include "core/id.h"
#include "core/util.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Each id needs 10 random bytes, and one RAND_bytes call costs about as
 * much as a whole SQLite row insert (the DRBG locks and reseeds checks per
 * call), so every thread draws them from its own pool refilled 4 KiB at a
 * time. The bytes are the same CSPRNG's, only fetched in bulk. */
static void id_random(unsigned char *out, size_t n)
{
    static _Thread_local unsigned char pool[4096];
    static _Thread_local size_t left;
    if (left < n) {
        random_bytes(pool, sizeof pool);
        left = sizeof pool;
    }
    memcpy(out, pool + sizeof pool - left, n);
    /* Never hand the same bytes out twice. */
    memset(pool + sizeof pool - left, 0, n);
    left -= n;
}

void id_new(char out[HERALD_ID_MAX], const char *prefix, int64_t now_ms)
{
    unsigned char rnd[10];
    id_random(rnd, sizeof rnd);
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    out[p++] = '_';
    uint64_t t = (uint64_t)now_ms;
    for (int i = 9; i >= 0; i--) {
        out[p + i] = crockford[t & 31];
        t >>= 5;
    }
    p += 10;
    /* 80 random bits as 16 base32 digits, 5 bits at a time. */
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 5; i++)
        hi = (hi << 8) | rnd[i];
    for (int i = 5; i < 10; i++)
        lo = (lo << 8) | rnd[i];
    for (int i = 7; i >= 0; i--) {
        out[p + i] = crockford[hi & 31];
        hi >>= 5;
        out[p + 8 + i] = crockford[lo & 31];
        lo >>= 5;
    }
    p += 16;
    out[p] = '\0';
}

bool id_valid(const char *s, const char *prefix)
{
    size_t p = strlen(prefix);
    if (!s || strncmp(s, prefix, p) != 0 || s[p] != '_')
        return false;
    s += p + 1;
    if (strlen(s) != 26)
        return false;
    for (; *s; s++)
        if (!strchr(crockford, *s))
            return false;
    return true;
}
