/* retry.c — the retry rules of DESIGN.md §5. */
#include <math.h>

#include "dispatch/retry.h"

/* Delay before the next attempt: the schedule's entry with ±10 % jitter, or
 * the receiver's Retry-After (429/503) capped by the configuration. */
static int64_t next_delay(const struct herald_config *cfg, const struct retry_input *in)
{
    if (in->retry_after_ms >= 0) {
        int64_t d = in->retry_after_ms;
        return d > cfg->retry_after_cap_ms ? cfg->retry_after_cap_ms : d;
    }
    double j = in->jitter;
    if (!(j >= -1.0)) /* also catches NaN */
        j = -1.0;
    if (j > 1.0)
        j = 1.0;
    double d = (double)config_retry_delay_ms(cfg, in->n) * (1.0 + 0.1 * j);
    return d < 0 ? 0 : (int64_t)llround(d);
}

void retry_decide(const struct herald_config *cfg, const struct retry_input *in,
                  struct retry_decision *out)
{
    out->next_attempt_at = 0;
    out->disable_reason = NULL;
    if (!in->error || !in->error[0]) {
        out->outcome = STORE_SUCCEEDED;
        return;
    }
    out->outcome = STORE_FAILED;
    /* The receiver says the endpoint is gone for good: stop sending to it. */
    if (in->response_code == 410) {
        out->disable_reason = "gone";
        return;
    }
    if (in->failing_since > 0 && in->now - in->failing_since >= cfg->disable_after_ms) {
        out->disable_reason = "failing";
        return;
    }
    if (in->n >= in->max_attempts)
        return;
    out->outcome = STORE_RETRY;
    out->next_attempt_at = in->now + next_delay(cfg, in);
}
