/*
 * retry.h — what happens after an attempt: the rules of DESIGN.md §5 as one
 * pure function, so they are tested without a network or a clock.
 */
#ifndef HERALD_DISPATCH_RETRY_H
#define HERALD_DISPATCH_RETRY_H

#include <stdint.h>

#include "core/config.h"
#include "store/store.h"

struct retry_input {
    int n;                 /* number of the attempt just made (1 = first) */
    int max_attempts;      /* the delivery's */
    int response_code;     /* 0 when no HTTP response */
    const char *error;     /* NULL on success */
    long retry_after_ms;   /* -1 when absent */
    int64_t now;           /* wall clock ms */
    int64_t failing_since; /* webhook's, 0 when it was healthy; before this attempt */
    double jitter;         /* uniform in [-1, 1]; scales the ±10 % jitter */
};

struct retry_decision {
    enum store_outcome outcome;
    int64_t next_attempt_at;    /* STORE_RETRY only */
    const char *disable_reason; /* NULL, "gone" (410) or "failing" (continuous failure) */
};

void retry_decide(const struct herald_config *cfg, const struct retry_input *in,
                  struct retry_decision *out);

#endif
