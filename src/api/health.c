/* health.c — liveness, readiness, metrics, the OpenAPI document and the
 * embedded dashboard files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/metrics.h"
#include "core/buf.h"
#include "store/store.h"
#include "web/assets.h"

/* The dashboard loads only its own files: no inline script, no framing. */
#define DASHBOARD_CSP                                                                              \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

void api_healthz(struct api_req *rq, struct api_resp *rs)
{
    (void)rq;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "status", "ok");
    resp_json(rs, HTTP_OK, doc);
}

void api_readyz(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    if (s->ops->ping(s) != 0) {
        resp_error(rs, HTTP_UNAVAILABLE, "unavailable", NULL, "the store is not reachable");
        resp_header(rs, "Retry-After", "1");
        return;
    }
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "status", "ok");
    resp_json(rs, HTTP_OK, doc);
}

static const struct web_asset *asset_find(const char *path)
{
    for (const struct web_asset *a = web_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

static const char *asset_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
        {".map", "application/json; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

bool api_asset(const char *path, struct api_resp *rs)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    const struct web_asset *a = asset_find(path);
    if (!a)
        return false;
    rs->status = HTTP_OK;
    rs->static_body = a->data;
    rs->len = a->len;
    rs->content_type = asset_type(a->path);
    resp_header(rs, "Content-Security-Policy", DASHBOARD_CSP);
    resp_header(rs, "X-Frame-Options", "DENY");
    resp_header(rs, "Referrer-Policy", "no-referrer");
    resp_header(rs, "Cache-Control", "no-cache");
    return true;
}

void api_openapi(struct api_req *rq, struct api_resp *rs)
{
    (void)rq;
    if (!api_asset("/openapi.json", rs))
        resp_error(rs, HTTP_NOT_FOUND, "not_found", NULL, "no OpenAPI document was built in");
}

/* The backlog comes from the store (the same on every node); the rest are
 * this node's own counters (core/metrics.h). A store that cannot answer
 * leaves the backlog out rather than failing the scrape. */
void api_metrics(struct api_req *rq, struct api_resp *rs)
{
    struct store *s = rq->h->store;
    struct store_stats st = {0};
    bool have_stats = s->ops->stats(s, &st) == 0;
    struct buf b;
    buf_init(&b, 1 << 16);
    if (metrics_render(&b, have_stats ? &st : NULL) != 0) {
        buf_release(&b);
        resp_error(rs, HTTP_UNAVAILABLE, "unavailable", NULL, "metrics could not be rendered");
        return;
    }
    size_t len;
    rs->status = HTTP_OK;
    rs->body = buf_detach(&b, &len);
    rs->len = len;
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
