/*
 * ratelimit.h — token buckets keyed by short strings, for the API's per-key
 * request rate and per-client-IP failed-authentication limits (DESIGN.md
 * §6).
 *
 * Each key has a bucket of `burst` tokens refilled at `rate` tokens a
 * second; a request takes one. The table has a fixed number of entries,
 * decided at creation, because keys come from the network (any client IP):
 * when a new key finds no free entry in its set, a bucket that has refilled
 * completely is reused first (forgetting it loses nothing, a new bucket
 * starts full), else the one least recently used. Thread-safe: sets are
 * guarded by striped mutexes, so API threads rarely wait on each other.
 * Times are the caller's (monotonic ms), which keeps the unit tests exact.
 */
#ifndef HERALD_API_RATELIMIT_H
#define HERALD_API_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Longest key kept; longer keys are cut (an IPv6 address is 45 chars). */
#define RATELIMIT_KEY_MAX 63

struct ratelimit;

/* A table of at least `entries` buckets (rounded up to whole sets of 8),
 * each `burst` tokens refilled at `rate` a second. rate and burst must be
 * > 0. Never fails (small fixed allocation; aborts on OOM). */
struct ratelimit *ratelimit_new(double rate, double burst, size_t entries);

/* Frees rl. NULL is fine. */
void ratelimit_free(struct ratelimit *rl);

/* Takes one token from key's bucket at now_ms. Returns 0 when there was
 * one; otherwise takes nothing and returns the milliseconds until one is
 * there (>= 1), what Retry-After should say. */
int64_t ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms);

/* Like ratelimit_take() without taking: 0 when key has a token now. */
int64_t ratelimit_peek(struct ratelimit *rl, const char *key, int64_t now_ms);

#endif
