/*
 * config.h — the settings of one herald process, from flags and their
 * HERALD_* environment twins (DESIGN.md §8). Filled by main.c, read-only
 * afterwards, shared by every module.
 */
#ifndef HERALD_CORE_CONFIG_H
#define HERALD_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cidr.h"

#define CONFIG_MAX_CIDRS 32
#define CONFIG_MAX_SCHEDULE 32

struct herald_config {
    char listen_host[256]; /* "127.0.0.1" */
    int listen_port;       /* 8080 */
    char db_url[1024];     /* "./var/herald.db", "sqlite:PATH" or "postgres://…" */
    bool dev;              /* plain http and loopback destinations allowed */

    struct cidr allow[CONFIG_MAX_CIDRS]; /* --allow-cidr, repeatable */
    size_t n_allow;

    /* Delay before retry n (after failed attempt n), in ms; the last entry
     * repeats. Default 5 s, 25 s, 125 s, 625 s, 3125 s. */
    int64_t retry_schedule_ms[CONFIG_MAX_SCHEDULE];
    size_t n_retry_schedule;

    int workers;                /* API worker threads hint; 0 = automatic */
    int64_t connect_timeout_ms; /* 5000 */
    int64_t request_timeout_ms; /* 15000 */
    int64_t retry_after_cap_ms; /* 3600000: Retry-After honoured up to this */
    int64_t disable_after_ms;   /* 5 days of continuous failure disables */
    int64_t lease_ms;           /* claimed deliveries' lease; > request timeout */
    size_t max_body;            /* API request body cap, 262144 */
    size_t response_read_cap;   /* 65536: response bytes read before cutting */
    size_t response_keep;       /* 4096: response bytes kept in the log */
    int max_in_flight_total;    /* dispatcher's global cap on transfers */
    int send_threads;           /* threads that send (the dispatcher's loop among them); 0 = one
                                   per CPU, at most two */
    bool lane_spill_always;     /* tests: hand transfers to the lanes even while the dispatcher's
                                   loop is not busy (no flag) */
    int db_pool;                /* PostgreSQL connections */
    char node_id[64];           /* lease owner name; host:pid by default */
    bool no_dispatch;           /* API-only node: accept and store, send nothing */

    /* API server limits (DESIGN.md §6). */
    double rate_limit;          /* requests/s per API key, 100000; 0 = no limit */
    double rate_burst;          /* requests a key may make at once; 0 = 2 × rate_limit */
    int auth_fail_per_min;      /* failed authentications per client IP a minute, 20; 0 = off */
    int max_connections;        /* 1024 */
    int max_connections_per_ip; /* 256 */
    int idle_timeout_s;         /* 30: an idle connection closes, and a request (headers and
                                   body) must arrive within this many seconds (slowloris) */
};

/* Fills every field with its default. */
void config_defaults(struct herald_config *c);

/* Parses "5,25,125" (seconds; decimals allowed: "0.2,0.5") into the
 * schedule. False on malformed input or an empty list. */
bool config_parse_schedule(struct herald_config *c, const char *s);

/* Delay before the attempt after failed attempt n (n >= 1), without jitter. */
int64_t config_retry_delay_ms(const struct herald_config *c, int n);

/* True when addr (16-byte form, see cidr.h) is inside an --allow-cidr range. */
bool config_allowed(const struct herald_config *c, const unsigned char addr[16]);

#endif
