#include <pthread.h>
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

/* The last id handed out, shared by every thread: an id made in the same
 * millisecond as the one before it continues from it instead of drawing
 * fresh bits, so ids made one after another sort in that order even
 * within a millisecond. Lists that break a tie on the time with the id
 * rely on it (PostgreSQL's event and attempt logs, webhooks by creation):
 * three events published back to back usually share a millisecond.
 * The step is random (1 to 2^32), so the next id is still not guessable
 * from the last one. */
static pthread_mutex_t last_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_ms = -1;
static uint64_t last_hi, last_lo; /* 40 bits each */

#define HALF_MASK ((UINT64_C(1) << 40) - 1)

static uint64_t bytes_be(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | b[i];
    return v;
}

/* Picks the 80 random bits for an id at now_ms, as two 40-bit halves. */
static void id_bits(int64_t now_ms, uint64_t *hi, uint64_t *lo)
{
    unsigned char rnd[10];
    id_random(rnd, sizeof rnd);
    pthread_mutex_lock(&last_mu);
    bool fresh = now_ms != last_ms;
    if (!fresh) {
        last_lo += bytes_be(rnd, 4) + 1;
        last_hi += last_lo >> 40;
        last_lo &= HALF_MASK;
        /* Wrapping past 2^80 would sort before the last id; with a random
         * start and 2^32 steps it takes ~2^48 ids in one millisecond.
         * Should it happen, fresh bits keep the id valid and unique. */
        fresh = last_hi > HALF_MASK;
    }
    if (fresh) {
        last_hi = bytes_be(rnd, 5);
        last_lo = bytes_be(rnd + 5, 5);
    }
    last_ms = now_ms;
    *hi = last_hi;
    *lo = last_lo;
    pthread_mutex_unlock(&last_mu);
}

void id_new(char out[HERALD_ID_MAX], const char *prefix, int64_t now_ms)
{
    uint64_t hi, lo;
    id_bits(now_ms, &hi, &lo);
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    out[p++] = '_';
    uint64_t t = (uint64_t)now_ms;
    for (int i = 9; i >= 0; i--) {
        out[p + i] = crockford[t & 31];
        t >>= 5;
    }
    p += 10;
    /* 80 bits as 16 base32 digits, 5 bits at a time. */
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
