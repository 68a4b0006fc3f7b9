#include <pthread.h>
#include <string.h>

#include "api/keycache.h"

/* Direct-mapped: a collision just evicts, which costs one store read. */
#define SLOTS 256

struct slot {
    struct store_key k;
    int64_t at; /* mono ms; 0 = empty */
};

static struct slot slots[SLOTS];
static uint64_t generation; /* bumped by every forget */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

uint64_t keycache_generation(void)
{
    pthread_mutex_lock(&mu);
    uint64_t g = generation;
    pthread_mutex_unlock(&mu);
    return g;
}

static size_t slot_of(const char hash[65])
{
    /* The hash is uniformly random hex: its first two bytes spread well. */
    size_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 4) | (size_t)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    return v % SLOTS;
}

bool keycache_get(const char hash[65], int64_t now_mono, struct store_key *out)
{
    struct slot *s = &slots[slot_of(hash)];
    bool hit = false;
    pthread_mutex_lock(&mu);
    if (s->at != 0 && now_mono - s->at < KEYCACHE_TTL_MS && strcmp(s->k.hash, hash) == 0) {
        *out = s->k;
        hit = true;
    }
    pthread_mutex_unlock(&mu);
    return hit;
}

void keycache_put(const struct store_key *k, int64_t now_mono, uint64_t gen)
{
    if (k->revoked_at != 0)
        return;
    struct slot *s = &slots[slot_of(k->hash)];
    pthread_mutex_lock(&mu);
    if (gen == generation) {
        s->k = *k;
        s->at = now_mono;
    }
    pthread_mutex_unlock(&mu);
}

void keycache_forget(const char *key_id)
{
    pthread_mutex_lock(&mu);
    generation++;
    for (size_t i = 0; i < SLOTS; i++)
        if (slots[i].at != 0 && strcmp(slots[i].k.id, key_id) == 0)
            slots[i].at = 0;
    pthread_mutex_unlock(&mu);
}
