/* libFuzzer target for auth_request (src/api/auth.c), which reads the
 * Authorization header ("Bearer <key>" or "Basic base64(account:key)")
 * and Herald-Account of every request before anything else: the API's
 * unauthenticated surface. The first input byte says which of the two
 * headers are sent (bits 0 and 1) and whether the route is admin-only
 * (bit 2); the rest is the Authorization value, a NUL, then the
 * Herald-Account value.
 *
 * The fake store (fake_api.h) knows an account key, an admin key and a
 * revoked admin key of one account, and a second account. Checks: every
 * refusal is a well-formed 401 (with WWW-Authenticate), 403 or 404; an
 * acceptance is for a valid, unrevoked key, with its role, on its own
 * account unless an admin key named an existing other one. And wherever
 * a reference reading of the header (Bearer, or Basic in strict base64,
 * as auth.h describes them) finds credentials, the outcome must be
 * exactly what auth.h promises for them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/auth.h"
#include "api/keys.h"
#include "core/id.h"
#include "fake_api.h"

/* What the reference read from the header. */
enum cred { CRED_NONE, CRED_BAD, CRED_OK, CRED_UNKNOWN /* lenient base64: no opinion */ };

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A token of 1..cap-1 visible ASCII characters. */
static bool token(const char *s, size_t n, size_t cap)
{
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~')
            return false;
    return true;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict base64 (RFC 4648 §4: padded, the standard alphabet, '=' only at
 * the end); the byte count, or -1. */
static long b64_strict(const char *s, size_t n, unsigned char *out)
{
    if (n == 0 || n % 4)
        return -1;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    long len = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            bool padding = i + 4 == n && (size_t)k >= 4 - pad;
            v[k] = padding ? 0 : b64_value(s[i + k]);
            if (v[k] < 0)
                return -1;
        }
        unsigned w =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        out[len++] = (unsigned char)(w >> 16);
        out[len++] = (unsigned char)(w >> 8);
        out[len++] = (unsigned char)w;
    }
    return len - (long)pad;
}

/* Reads the header as auth.h describes it: key[64] and user[HERALD_ID_MAX]
 * ("" when none). */
static enum cred reference(const char *h, char *key, char *user)
{
    key[0] = user[0] = '\0';
    if (!h)
        return CRED_NONE;
    if (strlen(h) > 512)
        return CRED_BAD;
    while (blank(*h))
        h++;
    bool basic = strncasecmp(h, "Basic ", 6) == 0;
    if (!basic && strncasecmp(h, "Bearer ", 7) != 0)
        return CRED_BAD;
    h += basic ? 6 : 7;
    while (blank(*h))
        h++;
    size_t n = 0;
    while (h[n] && !blank(h[n]))
        n++;
    for (const char *t = h + n; *t; t++)
        if (!blank(*t))
            return CRED_BAD;
    if (!basic) {
        if (!token(h, n, API_KEY_MAX))
            return CRED_BAD;
        memcpy(key, h, n);
        key[n] = '\0';
        return CRED_OK;
    }
    unsigned char raw[512];
    if (n == 0)
        return CRED_BAD;
    long len = b64_strict(h, n, raw);
    if (len < 0)
        return CRED_UNKNOWN;
    const unsigned char *colon = memchr(raw, ':', (size_t)len);
    if (!colon)
        return CRED_BAD;
    size_t ulen = (size_t)(colon - raw), klen = (size_t)len - ulen - 1;
    if ((ulen && !token((const char *)raw, ulen, HERALD_ID_MAX)) ||
        !token((const char *)colon + 1, klen, API_KEY_MAX))
        return CRED_BAD;
    memcpy(user, raw, ulen);
    user[ulen] = '\0';
    memcpy(key, colon + 1, klen);
    key[klen] = '\0';
    return CRED_OK;
}

static bool account_exists(const char *id)
{
    return strcmp(id, FAKE_ACCOUNT) == 0 || strcmp(id, FAKE_OTHER_ACCOUNT) == 0;
}

/* The outcome auth.h promises for a key, a Basic user, a Herald-Account
 * value and the route: 0 (accepted on *account) or the status. */
static int promised(const char *key, const char *user, const char *as, bool admin_only,
                    const char **account)
{
    bool admin = strcmp(key, FAKE_KEY_ADMIN) == 0;
    if (!admin && strcmp(key, FAKE_KEY_ACCOUNT) != 0)
        return 401; /* unknown or revoked */
    *account = FAKE_ACCOUNT;
    if (user[0] && strcmp(user, FAKE_ACCOUNT) != 0) {
        if (!admin)
            return 401;
        if (!account_exists(user))
            return 404;
        *account = user;
    }
    if (as && strcmp(as, *account) != 0) {
        if (!admin)
            return 403;
        if (!account_exists(as))
            return 404;
        *account = as;
    }
    if (admin_only && !admin)
        return 403;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool with_auth = data[0] & 1, with_as = data[0] & 2, admin_only = data[0] & 4;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    const char *auth = text, *as = text + strlen(text);
    if (as < text + size - 1)
        as++;
    struct fake_conn conn = {0};
    if (with_auth)
        fake_add(&conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION, auth);
    if (with_as)
        fake_add(&conn, MHD_HEADER_KIND, "Herald-Account", as);
    struct api_req rq = fake_request(&conn, "", 0);
    memset(&rq.auth, 0, sizeof rq.auth);
    struct api_resp rs = {0};
    bool ok = auth_request(&rq, &rs, admin_only);

    if (ok) {
        bool admin = strcmp(rq.auth.key_id, FAKE_KEY_ADMIN_ID) == 0;
        if (rs.status != 0 || rs.body || rq.auth.admin != admin ||
            (!admin && strcmp(rq.auth.key_id, FAKE_KEY_ACCOUNT_ID) != 0) ||
            !account_exists(rq.auth.account_id) ||
            (!admin && strcmp(rq.auth.account_id, FAKE_ACCOUNT) != 0) || (admin_only && !admin))
            abort();
    } else {
        fake_check_error(&rs, NULL, 0);
        if ((rs.status != 401 && rs.status != 403 && rs.status != 404) ||
            (rs.status == 401) != (fake_answer_header(&rs, "WWW-Authenticate") != NULL))
            abort();
    }

    char key[API_KEY_MAX], user[HERALD_ID_MAX];
    enum cred c = reference(with_auth ? auth : NULL, key, user);
    const char *account = NULL;
    int want = c == CRED_OK ? promised(key, user, with_as ? as : NULL, admin_only, &account) : 401;
    if (c != CRED_UNKNOWN) {
        if (ok ? want != 0 || strcmp(rq.auth.account_id, account) != 0 : rs.status != want)
            abort();
    }
    resp_release(&rs);
    free(text);
    return 0;
}
