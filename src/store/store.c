/* store.c — picks a backend from the URL, and the record helpers every
 * backend and caller share. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

int store_open(const char *url, int pool, struct store **out)
{
    *out = NULL;
    if (pool < 1)
        pool = 1;
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return store_postgres_open(url, pool, out);
    if (strncmp(url, "sqlite:", 7) == 0)
        url += 7;
    if (!*url) {
        log_kv(LOG_ERROR, "empty database path", NULL);
        return HERALD_EINVAL;
    }
    return store_sqlite_open(url, pool, out);
}

void store_close(struct store *s)
{
    if (s)
        s->ops->close(s);
}

void store_event_type_release(struct store_event_type *t)
{
    free(t->description);
    free(t->sample);
    t->description = t->sample = NULL;
}

void store_webhook_release(struct store_webhook *w)
{
    free(w->name);
    free(w->description);
    free(w->url);
    free(w->events);
    free(w->headers);
    free(w->secret);
    free(w->prev_secret);
    free(w->disabled_reason);
    w->name = w->description = w->url = w->events = w->headers = NULL;
    w->secret = w->prev_secret = w->disabled_reason = NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void store_webhook_copy(struct store_webhook *dst, const struct store_webhook *src)
{
    *dst = *src;
    dst->name = dup_or_null(src->name);
    dst->description = dup_or_null(src->description);
    dst->url = dup_or_null(src->url);
    dst->events = dup_or_null(src->events);
    dst->headers = dup_or_null(src->headers);
    dst->secret = dup_or_null(src->secret);
    dst->prev_secret = dup_or_null(src->prev_secret);
    dst->disabled_reason = dup_or_null(src->disabled_reason);
}

void store_event_release(struct store_event *e)
{
    free(e->payload);
    free(e->idempotency_key);
    e->payload = e->idempotency_key = NULL;
}

void store_attempt_release(struct store_attempt *a)
{
    free(a->response_body);
    free(a->request_headers);
    free(a->payload);
    a->response_body = a->request_headers = a->payload = NULL;
}

void store_claims_free(struct store_claim *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        free(c[i].payload);
    free(c);
}

struct store_claim *store_claims_push(struct store_claims *l)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    struct store_claim *c = &l->v[l->len++];
    memset(c, 0, sizeof *c);
    return c;
}

void store_claims_clear(struct store_claims *l)
{
    store_claims_free(l->v, l->len);
    memset(l, 0, sizeof *l);
}

void store_webhooks_free(struct store_webhook *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++)
        store_webhook_release(&w[i]);
    free(w);
}

void store_events_free(struct store_event *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        store_event_release(&e[i]);
    free(e);
}

void store_attempts_free(struct store_attempt *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        store_attempt_release(&a[i]);
    free(a);
}

void store_event_types_free(struct store_event_type *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        store_event_type_release(&t[i]);
    free(t);
}
