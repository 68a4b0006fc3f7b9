/*
 * clock.h — time in herald: int64 milliseconds since the Unix epoch
 * everywhere inside, RFC 3339 UTC strings at the API boundary.
 */
#ifndef HERALD_CORE_CLOCK_H
#define HERALD_CORE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Wall-clock time in ms. */
int64_t clock_now_ms(void);
/* Monotonic time in ms, for durations and timers. */
int64_t clock_mono_ms(void);
/* Monotonic time in µs, for short durations (commit latency). */
int64_t clock_mono_us(void);

/* Formats ms as "2025-10-05T14:30:00.123Z" (always millisecond precision)
 * into out[32]. */
void clock_format(int64_t ms, char out[32]);

/* Parses RFC 3339 ("2025-10-05T14:30:00Z", optional fraction, "Z" or
 * "+hh:mm"), or a plain integer of unix seconds. */
bool clock_parse(const char *s, int64_t *ms);

#endif
