/* auth.c — API key authentication (see auth.h). */
#include <string.h>
#include <strings.h>

#include "api/auth.h"
#include "api/keycache.h"
#include "api/keys.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

/* Longest Authorization header looked at; real ones are under 200. */
#define AUTH_HEADER_MAX 512

struct credentials {
    char key[API_KEY_MAX];
    char user[HERALD_ID_MAX]; /* Basic user (an account id), "" for Bearer */
};

static bool unauthorized(struct api_resp *rs, const char *msg)
{
    resp_error(rs, HTTP_UNAUTHORIZED, "unauthorized", NULL, "%s", msg);
    resp_header(rs, "WWW-Authenticate", "Bearer realm=\"herald\"");
    return false;
}

static const char *skip_spaces(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static bool copy_token(char *dst, size_t cap, const char *src, size_t n)
{
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)src[i] <= ' ' || (unsigned char)src[i] > '~')
            return false;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

static bool parse_basic(const char *b64, struct credentials *c)
{
    unsigned char raw[AUTH_HEADER_MAX];
    size_t n = strcspn(b64, " \t");
    if (b64[n] && *skip_spaces(b64 + n))
        return false;
    long len = b64_decode(b64, n, raw);
    if (len <= 0)
        return false;
    const unsigned char *colon = memchr(raw, ':', (size_t)len);
    if (!colon)
        return false;
    size_t ulen = (size_t)(colon - raw);
    size_t klen = (size_t)len - ulen - 1;
    if (ulen && !copy_token(c->user, sizeof c->user, (const char *)raw, ulen))
        return false;
    return copy_token(c->key, sizeof c->key, (const char *)colon + 1, klen);
}

static bool parse_credentials(const char *hdr, struct credentials *c)
{
    memset(c, 0, sizeof *c);
    if (strlen(hdr) > AUTH_HEADER_MAX)
        return false;
    hdr = skip_spaces(hdr);
    if (strncasecmp(hdr, "Bearer ", 7) == 0) {
        const char *k = skip_spaces(hdr + 7);
        size_t n = strcspn(k, " \t");
        if (k[n] && *skip_spaces(k + n))
            return false;
        return copy_token(c->key, sizeof c->key, k, n);
    }
    if (strncasecmp(hdr, "Basic ", 6) == 0)
        return parse_basic(skip_spaces(hdr + 6), c);
    return false;
}

/* Switches an admin's request to another account after checking it exists. */
static bool act_as(struct api_req *rq, struct api_resp *rs, const char *target, const char *field)
{
    struct store *s = rq->h->store;
    struct store_account acct;
    if (!id_valid(target, "acct")) {
        resp_error(rs, HTTP_NOT_FOUND, "not_found", field, "account not found");
        return false;
    }
    int rc = s->ops->account_get(s, target, &acct);
    if (rc == HERALD_ENOTFOUND) {
        resp_error(rs, HTTP_NOT_FOUND, "not_found", field, "account not found");
        return false;
    }
    if (rc) {
        resp_store_error(rs, rc, "account");
        return false;
    }
    str_copy(rq->auth.account_id, sizeof rq->auth.account_id, acct.id);
    return true;
}

bool auth_request(struct api_req *rq, struct api_resp *rs, bool admin_only)
{
    struct store *s = rq->h->store;
    struct credentials c;
    struct store_key k;
    char hash[65];
    const char *hdr = req_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!hdr)
        return unauthorized(rs, "an API key is required: Authorization: Bearer <key>");
    if (!parse_credentials(hdr, &c))
        return unauthorized(rs, "malformed Authorization header");
    sha256_hex(c.key, strlen(c.key), hash);
    explicit_bzero(c.key, sizeof c.key);
    /* A cached entry is refreshed only from the store, so a key revoked on
     * another node stops working within the cache's TTL. */
    int64_t mono = clock_mono_ms();
    int rc = 0;
    if (!keycache_get(hash, mono, &k)) {
        uint64_t gen = keycache_generation();
        if ((rc = s->ops->key_find(s, hash, &k)) == 0)
            keycache_put(&k, mono, gen);
    }
    if (rc == HERALD_ENOTFOUND)
        return unauthorized(rs, "invalid API key");
    if (rc) {
        resp_store_error(rs, rc, "key");
        return false;
    }
    if (!ct_equal(k.hash, hash, 64) || k.revoked_at != 0)
        return unauthorized(rs, "invalid API key");
    rq->auth.admin = strcmp(k.role, "admin") == 0;
    str_copy(rq->auth.key_id, sizeof rq->auth.key_id, k.id);
    str_copy(rq->auth.account_id, sizeof rq->auth.account_id, k.account_id);
    if (c.user[0] && strcmp(c.user, k.account_id) != 0) {
        if (!rq->auth.admin)
            return unauthorized(rs, "the key does not belong to this account");
        if (!act_as(rq, rs, c.user, NULL))
            return false;
    }
    const char *as = req_header(rq, "Herald-Account");
    if (as && strcmp(as, rq->auth.account_id) != 0) {
        if (!rq->auth.admin) {
            resp_error(rs, HTTP_FORBIDDEN, "forbidden", "Herald-Account",
                       "only admin keys may act on another account");
            return false;
        }
        if (!act_as(rq, rs, as, "Herald-Account"))
            return false;
    }
    if (admin_only && !rq->auth.admin) {
        resp_error(rs, HTTP_FORBIDDEN, "forbidden", NULL, "this route needs an admin key");
        return false;
    }
    return true;
}
