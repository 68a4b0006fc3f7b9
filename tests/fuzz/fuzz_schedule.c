/* libFuzzer target for config_parse_schedule (src/core/config.c), which
 * reads --retry-schedule and HERALD_RETRY_SCHEDULE. Whatever it accepts
 * is a schedule of 1..CONFIG_MAX_SCHEDULE delays within 0..30 days; what
 * it refuses leaves the previous schedule untouched. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct herald_config c;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    config_defaults(&c);
    int64_t before[CONFIG_MAX_SCHEDULE];
    size_t n_before = c.n_retry_schedule;
    memcpy(before, c.retry_schedule_ms, sizeof before);
    if (config_parse_schedule(&c, s)) {
        if (c.n_retry_schedule < 1 || c.n_retry_schedule > CONFIG_MAX_SCHEDULE)
            abort();
        for (size_t i = 0; i < c.n_retry_schedule; i++)
            if (c.retry_schedule_ms[i] < 0 || c.retry_schedule_ms[i] > 30LL * 24 * 3600 * 1000)
                abort();
        for (int n = 1; n < 40; n++)
            if (config_retry_delay_ms(&c, n) < 0)
                abort();
    } else if (c.n_retry_schedule != n_before ||
               memcmp(before, c.retry_schedule_ms, sizeof before) != 0) {
        abort();
    }
    free(s);
    return 0;
}
