/* ratelimit.c — bounded tables of token buckets (see ratelimit.h). */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api/ratelimit.h"
#include "core/util.h"

#define WAYS 8     /* entries per set: a key lives in one set */
#define STRIPES 64 /* mutexes; set i is guarded by lock[i % STRIPES] */

struct bucket {
    char key[RATELIMIT_KEY_MAX + 1]; /* "" when free */
    double tokens;
    int64_t at; /* when tokens was last brought up to date, ms */
};

struct ratelimit {
    double rate_per_ms;
    double burst;
    size_t n_sets;
    struct bucket *b; /* n_sets * WAYS */
    pthread_mutex_t lock[STRIPES];
};

struct ratelimit *ratelimit_new(double rate, double burst, size_t entries)
{
    struct ratelimit *rl = xcalloc(1, sizeof *rl);
    rl->rate_per_ms = rate / 1000.0;
    rl->burst = burst;
    rl->n_sets = entries / WAYS + 1;
    rl->b = xcalloc(rl->n_sets * WAYS, sizeof *rl->b);
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&rl->lock[i], NULL);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&rl->lock[i]);
    free(rl->b);
    free(rl);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Brings b's tokens up to now (never above burst; a clock that went back
 * refills nothing). */
static void refill(const struct ratelimit *rl, struct bucket *b, int64_t now)
{
    if (now > b->at) {
        b->tokens = fmin(rl->burst, b->tokens + (double)(now - b->at) * rl->rate_per_ms);
        b->at = now;
    }
}

/* The bucket of key in set, made (full) when absent. Called with the set's
 * stripe locked. */
static struct bucket *find(struct ratelimit *rl, struct bucket *set, const char *key, int64_t now)
{
    struct bucket *victim = NULL;
    for (int i = 0; i < WAYS; i++) {
        struct bucket *b = &set[i];
        if (b->key[0] && strcmp(b->key, key) == 0)
            return b;
    }
    /* A free entry, else a refilled one (forgetting it changes nothing),
     * else the least recently used. */
    for (int i = 0; i < WAYS && !victim; i++)
        if (!set[i].key[0])
            victim = &set[i];
    for (int i = 0; i < WAYS && !victim; i++) {
        refill(rl, &set[i], now);
        if (set[i].tokens >= rl->burst)
            victim = &set[i];
    }
    if (!victim) {
        victim = &set[0];
        for (int i = 1; i < WAYS; i++)
            if (set[i].at < victim->at)
                victim = &set[i];
    }
    str_copy(victim->key, sizeof victim->key, key);
    victim->tokens = rl->burst;
    victim->at = now;
    return victim;
}

static int64_t use(struct ratelimit *rl, const char *key, int64_t now, bool take)
{
    char k[RATELIMIT_KEY_MAX + 1];
    str_copy(k, sizeof k, key); /* cut, never refused: the bucket still applies */
    size_t set = (size_t)(fnv1a(k) % rl->n_sets);
    pthread_mutex_t *mu = &rl->lock[set % STRIPES];
    pthread_mutex_lock(mu);
    struct bucket *b = find(rl, &rl->b[set * WAYS], k, now);
    refill(rl, b, now);
    int64_t wait = 0;
    if (b->tokens >= 1.0 - 1e-9) {
        if (take)
            b->tokens -= 1.0;
    } else {
        /* The epsilon absorbs rounding (0.998 + 0.002 is not quite 1). */
        wait = (int64_t)ceil((1.0 - b->tokens) / rl->rate_per_ms - 1e-6);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(mu);
    return wait;
}

int64_t ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    return use(rl, key, now_ms, true);
}

int64_t ratelimit_peek(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    return use(rl, key, now_ms, false);
}
