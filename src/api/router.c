/* router.c — matching a request to its route (see router.h). */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "api/router.h"
#include "core/util.h"

const struct route api_routes[] = {
    {"GET", "/healthz", ROUTE_PUBLIC, api_healthz, ROUTE_BLOCKS},
    {"GET", "/readyz", ROUTE_PUBLIC, api_readyz, ROUTE_BLOCKS},
    {"GET", "/openapi.json", ROUTE_PUBLIC, api_openapi, ROUTE_BLOCKS},
    {"GET", "/metrics", ROUTE_ADMIN, api_metrics, ROUTE_BLOCKS},
    {"GET", "/v1/me", ROUTE_ACCOUNT, api_me, ROUTE_BLOCKS},
    {"GET", "/v1/stats", ROUTE_ACCOUNT, api_stats, ROUTE_BLOCKS},

    {"POST", "/v1/webhooks", ROUTE_ACCOUNT, api_webhook_create, ROUTE_BLOCKS},
    {"GET", "/v1/webhooks", ROUTE_ACCOUNT, api_webhook_list, ROUTE_BLOCKS},
    {"GET", "/v1/webhooks/{id}", ROUTE_ACCOUNT, api_webhook_get, ROUTE_BLOCKS},
    {"PATCH", "/v1/webhooks/{id}", ROUTE_ACCOUNT, api_webhook_update, ROUTE_BLOCKS},
    {"POST", "/v1/webhooks/{id}", ROUTE_ACCOUNT, api_webhook_update, ROUTE_BLOCKS},
    {"DELETE", "/v1/webhooks/{id}", ROUTE_ACCOUNT, api_webhook_delete, ROUTE_BLOCKS},
    {"GET", "/v1/webhooks/{id}/secret", ROUTE_ACCOUNT, api_webhook_secret, ROUTE_BLOCKS},
    {"POST", "/v1/webhooks/{id}/secret/rotate", ROUTE_ACCOUNT, api_webhook_rotate, ROUTE_BLOCKS},
    {"POST", "/v1/webhooks/{id}/test", ROUTE_ACCOUNT, api_webhook_test, ROUTE_BLOCKS},
    {"GET", "/v1/webhooks/{id}/log", ROUTE_ACCOUNT, api_webhook_log, ROUTE_BLOCKS},
    {"POST", "/v1/webhooks/{id}/recover", ROUTE_ACCOUNT, api_webhook_recover, ROUTE_BLOCKS},

    {"POST", "/v1/events", ROUTE_ACCOUNT, api_event_publish, ROUTE_COMMITS},
    {"GET", "/v1/events", ROUTE_ACCOUNT, api_event_list, ROUTE_BLOCKS},
    {"POST", "/v1/events/batch", ROUTE_ACCOUNT, api_event_batch, ROUTE_COMMITS},
    {"GET", "/v1/events/{id}", ROUTE_ACCOUNT, api_event_get, ROUTE_BLOCKS},

    {"GET", "/v1/deliveries/{id}", ROUTE_ACCOUNT, api_delivery_get, ROUTE_BLOCKS},
    {"POST", "/v1/deliveries/{id}/retry", ROUTE_ACCOUNT, api_delivery_retry, ROUTE_BLOCKS},

    {"GET", "/v1/event-types", ROUTE_ACCOUNT, api_event_type_list, ROUTE_BLOCKS},
    {"POST", "/v1/event-types", ROUTE_ACCOUNT, api_event_type_create, ROUTE_BLOCKS},
    {"GET", "/v1/event-types/{name}", ROUTE_ACCOUNT, api_event_type_get, ROUTE_BLOCKS},

    {"GET", "/v1/accounts", ROUTE_ADMIN, api_account_list, ROUTE_BLOCKS},
    {"POST", "/v1/accounts", ROUTE_ADMIN, api_account_create, ROUTE_BLOCKS},
    {"GET", "/v1/accounts/{id}", ROUTE_ADMIN, api_account_get, ROUTE_BLOCKS},
    {"POST", "/v1/accounts/{id}/keys", ROUTE_ADMIN, api_key_create, ROUTE_BLOCKS},
    {"DELETE", "/v1/keys/{id}", ROUTE_ADMIN, api_key_revoke, ROUTE_BLOCKS},
    {NULL, NULL, ROUTE_PUBLIC, NULL, ROUTE_BLOCKS},
};

/* Splits the scratch copy of the path at '/' in place. */
static size_t split(char *p, char **seg, size_t max)
{
    size_t n = 0;
    if (*p != '/')
        return (size_t)-1;
    while (*p == '/') {
        *p++ = '\0';
        if (n == max)
            return (size_t)-1;
        seg[n++] = p;
        p += strcspn(p, "/");
    }
    return n;
}

/* Compares a pattern with the split path, capturing {param} segments. */
static bool match_pattern(const char *pat, char **seg, size_t nseg, const char **params,
                          size_t *nparams)
{
    size_t i = 0, np = 0;
    while (*pat == '/') {
        pat++;
        size_t len = strcspn(pat, "/");
        if (i == nseg)
            return false;
        if (len > 2 && pat[0] == '{' && pat[len - 1] == '}') {
            if (!*seg[i] || np == API_MAX_PARAMS)
                return false;
            params[np++] = seg[i];
        } else if (strlen(seg[i]) != len || memcmp(seg[i], pat, len) != 0) {
            return false;
        }
        i++;
        pat += len;
    }
    if (i != nseg)
        return false;
    *nparams = np;
    return true;
}

static void allow_add(struct route_match *m, const char *method)
{
    if (strstr(m->allow, method))
        return;
    size_t n = strlen(m->allow);
    snprintf(m->allow + n, sizeof m->allow - n, "%s%s", n ? ", " : "", method);
}

void router_match(const struct route *table, const char *method, const char *path,
                  struct route_match *m)
{
    char *seg[ROUTER_SEGMENTS_MAX];
    m->route = NULL;
    m->path_known = false;
    m->allow[0] = '\0';
    m->n_params = 0;
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    if (!str_copy(m->scratch, sizeof m->scratch, path))
        return;
    size_t n = strlen(m->scratch);
    if (n > 1 && m->scratch[n - 1] == '/')
        m->scratch[n - 1] = '\0';
    size_t nseg = split(m->scratch, seg, ROUTER_SEGMENTS_MAX);
    if (nseg == (size_t)-1)
        return;
    for (const struct route *r = table; r->pattern; r++) {
        const char *params[API_MAX_PARAMS];
        size_t np = 0;
        if (!match_pattern(r->pattern, seg, nseg, params, &np))
            continue;
        if (strcmp(r->method, method) == 0) {
            /* Found: the Allow list is for a 405 only, so the rest of the
             * table is not walked (it showed in ingest's profile). */
            m->route = r;
            memcpy(m->params, params, sizeof params);
            m->n_params = np;
            m->path_known = false;
            return;
        }
        allow_add(m, r->method);
        if (strcmp(r->method, "GET") == 0)
            allow_add(m, "HEAD");
        m->path_known = true;
    }
}
