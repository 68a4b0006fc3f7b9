/*
 * router.h — the route table: {method, path pattern, who may call} →
 * handler. Patterns are literal segments and "{param}" segments that match
 * any one non-empty segment; captured segments become api_req.params in
 * order. A path no pattern matches is a 404; a path that matches only with
 * other methods is a 405 that lists them in Allow.
 */
#ifndef HERALD_API_ROUTER_H
#define HERALD_API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http.h"

enum route_auth {
    ROUTE_PUBLIC,  /* no key (health, OpenAPI) */
    ROUTE_ACCOUNT, /* any valid key, scoped to its account */
    ROUTE_ADMIN,   /* admin keys only (403 for others) */
};

/* Where the server may run a route's handler. */
enum route_run {
    ROUTE_BLOCKS,  /* may wait on the store: a worker thread */
    ROUTE_COMMITS, /* only parses and validates, then answers with a pending
                    * group commit (http.h, api_pending) instead of waiting
                    * for it: the event loop itself */
};

struct route {
    const char *method;
    const char *pattern;
    enum route_auth auth;
    api_handler fn;
    enum route_run run;
};

/* The routes herald serves, ended by a NULL pattern. */
extern const struct route api_routes[];

/* Longest path and most segments the router looks at; longer paths are
 * simply unknown routes. */
#define ROUTER_PATH_MAX 512
#define ROUTER_SEGMENTS_MAX 8

struct route_match {
    const struct route *route; /* NULL: no route for this method */
    bool path_known;           /* some route matched the path with another method */
    char allow[64]; /* the methods that match the path, "GET, POST"; only when no route matched */
    char scratch[ROUTER_PATH_MAX + 1];
    const char *params[API_MAX_PARAMS]; /* point into scratch */
    size_t n_params;
};

/* Looks up method and path (HEAD counts as GET; one trailing slash is
 * ignored). The params stay valid as long as m. */
void router_match(const struct route *table, const char *method, const char *path,
                  struct route_match *m);

#endif
