/*
 * log.h — structured logs: one JSON object per line on stderr.
 *
 *   log_kv(LOG_INFO, "listening", "addr", "127.0.0.1:8080", NULL);
 *   -> {"ts":"2026-…Z","level":"info","msg":"listening","addr":"127.0.0.1:8080"}
 *
 * Arguments after msg are key/value string pairs ended by NULL. Values are
 * JSON-escaped. Each line is written with one write(2), so lines from
 * different threads never interleave. Never pass an API key or a webhook
 * secret as a value.
 */
#ifndef HERALD_CORE_LOG_H
#define HERALD_CORE_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Lines below this level are dropped; default LOG_INFO. */
void log_set_level(enum log_level level);

/* True when lines of this level are written: lets a hot path skip
 * formatting values for a line that would be dropped. */
bool log_enabled(enum log_level level);

void log_kv(enum log_level level, const char *msg, ...) __attribute__((sentinel));

#endif
