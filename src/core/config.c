#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/util.h"

void config_defaults(struct herald_config *c)
{
    memset(c, 0, sizeof *c);
    str_copy(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8080;
    str_copy(c->db_url, sizeof c->db_url, "./var/herald.db");
    static const int64_t sched[] = {5000, 25000, 125000, 625000, 3125000};
    memcpy(c->retry_schedule_ms, sched, sizeof sched);
    c->n_retry_schedule = ARRAY_SIZE(sched);
    c->connect_timeout_ms = 5000;
    c->request_timeout_ms = 15000;
    c->retry_after_cap_ms = 3600 * 1000;
    c->disable_after_ms = 5LL * 24 * 3600 * 1000;
    c->lease_ms = 60000;
    c->max_body = 256 * 1024;
    c->response_read_cap = 64 * 1024;
    c->response_keep = 4096;
    c->max_in_flight_total = 1024;
    c->db_pool = 8;
    c->rate_limit = 100000;
    c->auth_fail_per_min = 20;
    c->max_connections = 1024;
    c->max_connections_per_ip = 256;
    c->idle_timeout_s = 30;
    char host[64] = "node";
    gethostname(host, sizeof host - 1);
    snprintf(c->node_id, sizeof c->node_id, "%.40s:%ld", host, (long)getpid());
}

bool config_parse_schedule(struct herald_config *c, const char *s)
{
    int64_t out[CONFIG_MAX_SCHEDULE];
    size_t n = 0;
    const char *p = s;
    while (*p) {
        if (n == CONFIG_MAX_SCHEDULE)
            return false;
        char *end = NULL;
        double v = strtod(p, &end);
        /* Written so that NaN fails too (strtod reads "nan"). */
        if (end == p || !(v >= 0 && v <= 30 * 24 * 3600.0))
            return false;
        out[n++] = (int64_t)(v * 1000 + 0.5);
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return false;
    }
    if (n == 0)
        return false;
    memcpy(c->retry_schedule_ms, out, n * sizeof out[0]);
    c->n_retry_schedule = n;
    return true;
}

int64_t config_retry_delay_ms(const struct herald_config *c, int n)
{
    size_t i = n < 1 ? 0 : (size_t)(n - 1);
    if (i >= c->n_retry_schedule)
        i = c->n_retry_schedule - 1;
    return c->retry_schedule_ms[i];
}

bool config_allowed(const struct herald_config *c, const unsigned char addr[16])
{
    for (size_t i = 0; i < c->n_allow; i++)
        if (cidr_contains(&c->allow[i], addr))
            return true;
    return false;
}
