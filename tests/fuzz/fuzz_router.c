/* libFuzzer target for router_match (src/api/router.c): the method and
 * the decoded path of every API request, before authentication. The
 * first input byte picks the method; the rest, up to a NUL, is the path.
 *
 * The answer is checked against a reference matcher written from
 * router.h: split the path (one trailing slash ignored) at '/', match each
 * pattern segment by segment, "{param}" taking any one non-empty segment.
 * The route found must be the table's first one that matches with this
 * method (HEAD as GET), its params the captured segments (non-empty,
 * without '/', as many as the pattern has), and substituting them back
 * into the pattern must give the path, and a param that passes id_valid
 * (what req_id asks before the store sees it) must be a well-formed id;
 * with no route, the Allow list must name exactly the methods whose routes
 * match the path. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/router.h"
#include "core/id.h"

#define SEGMENTS_MAX 64

static const char *const methods[8] = {"GET",  "POST", "PATCH",   "DELETE",
                                       "HEAD", "PUT",  "OPTIONS", "get"};

/* Splits path (after its leading '/') into seg[], keeping empty segments;
 * -1 when it does not start with '/' or has too many. */
static int split(const char *path, char seg[][ROUTER_PATH_MAX + 1], int max)
{
    if (path[0] != '/')
        return -1;
    int n = 0;
    const char *p = path + 1;
    for (;;) {
        size_t len = strcspn(p, "/");
        if (n == max || len > ROUTER_PATH_MAX)
            return -1;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        if (p[len] != '/')
            return n;
        p += len + 1;
    }
}

/* Whether pattern matches the split path; its {param} segments in params. */
static bool ref_match(const char *pattern, char seg[][ROUTER_PATH_MAX + 1], int n,
                      const char **params, size_t *np)
{
    static char pat[SEGMENTS_MAX][ROUTER_PATH_MAX + 1];
    int k = split(pattern, pat, SEGMENTS_MAX);
    if (k != n)
        return false;
    *np = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(pat[i]);
        if (len > 2 && pat[i][0] == '{' && pat[i][len - 1] == '}') {
            if (!seg[i][0])
                return false;
            params[(*np)++] = seg[i];
        } else if (strcmp(pat[i], seg[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* A path param the handlers' req_id accepts (id_valid) must be exactly
 * "<prefix>_" and 26 Crockford base32 digits: nothing else reaches the
 * store. */
static void check_id(const char *param)
{
    static const char *const prefixes[] = {"wh", "evt", "dlv", "acct", "key", "att"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t p = strlen(prefixes[i]);
        if (!id_valid(param, prefixes[i]))
            continue;
        if (strlen(param) != p + 27 || strncmp(param, prefixes[i], p) != 0 || param[p] != '_' ||
            strspn(param + p + 1, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") != 26)
            abort();
    }
}

/* Whether the comma-separated list holds item. */
static bool listed(const char *list, const char *item)
{
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && memcmp(p, item, n) == 0)
            return true;
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char seg[SEGMENTS_MAX][ROUTER_PATH_MAX + 1];
    if (size < 1)
        return 0;
    const char *method = methods[data[0] & 7];
    const char *as = strcmp(method, "HEAD") == 0 ? "GET" : method;
    char *path = malloc(size);
    if (!path)
        return 0;
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';

    struct route_match m;
    router_match(api_routes, method, path, &m);

    /* The reference: the path as the router reads it. */
    char norm[ROUTER_PATH_MAX + 2];
    size_t len = strlen(path);
    int n = -1;
    if (len <= ROUTER_PATH_MAX) {
        memcpy(norm, path, len + 1);
        if (len > 1 && norm[len - 1] == '/')
            norm[len - 1] = '\0';
        n = split(norm, seg, ROUTER_SEGMENTS_MAX);
    }
    const struct route *want = NULL;
    const char *want_params[API_MAX_PARAMS + SEGMENTS_MAX];
    size_t want_np = 0;
    char allow[256] = "";
    for (const struct route *r = api_routes; n >= 0 && r->pattern && !want; r++) {
        const char *params[SEGMENTS_MAX];
        size_t np = 0;
        if (!ref_match(r->pattern, seg, n, params, &np))
            continue;
        if (np > API_MAX_PARAMS)
            abort(); /* the table itself is wrong */
        if (strcmp(r->method, as) == 0) {
            want = r;
            want_np = np;
            memcpy(want_params, params, np * sizeof *params);
        } else if (!listed(allow, r->method)) {
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     allow[0] ? ", " : "", r->method);
        }
    }

    if (m.route != want)
        abort();
    if (want) {
        if (m.n_params != want_np || m.path_known)
            abort();
        /* The params, put back into the pattern, give the path. */
        char back[2 * ROUTER_PATH_MAX + 64];
        size_t at = 0, i = 0;
        for (const char *p = want->pattern; *p == '/';) {
            size_t l = strcspn(p + 1, "/");
            const char *part = p + 1;
            back[at++] = '/';
            if (p[1] == '{') {
                part = m.params[i];
                if (!part || strcmp(part, want_params[i]) != 0 || !part[0] || strchr(part, '/'))
                    abort();
                l = strlen(part);
                i++;
            }
            if (at + l >= sizeof back)
                abort();
            memcpy(back + at, part, l);
            at += l;
            p += strcspn(p + 1, "/") + 1;
        }
        back[at] = '\0';
        if (strcmp(back, norm) != 0)
            abort();
        for (size_t k = 0; k < m.n_params; k++)
            check_id(m.params[k]);
    } else {
        /* Allow lists exactly the other methods, HEAD with GET. */
        if (m.path_known != (allow[0] != '\0') || listed(m.allow, as))
            abort();
        for (const char *p = allow; *p;) {
            char one[16] = "";
            size_t l = strcspn(p, ",");
            memcpy(one, p, l < sizeof one ? l : sizeof one - 1);
            if (!listed(m.allow, one) || (strcmp(one, "GET") == 0 && !listed(m.allow, "HEAD")))
                abort();
            p += l;
            while (*p == ',' || *p == ' ')
                p++;
        }
        for (const char *p = m.allow; *p;) {
            char one[16] = "";
            size_t l = strcspn(p, ",");
            memcpy(one, p, l < sizeof one ? l : sizeof one - 1);
            if (!listed(allow, one) && !(strcmp(one, "HEAD") == 0 && listed(allow, "GET")))
                abort();
            p += l;
            while (*p == ',' || *p == ' ')
                p++;
        }
    }
    free(path);
    return 0;
}
