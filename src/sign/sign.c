#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "sign/sign.h"

void sign_secret_new(char out[SIGN_SECRET_MAX])
{
    unsigned char raw[32];
    random_bytes(raw, sizeof raw);
    memcpy(out, "whsec_", 6);
    b64_encode(raw, sizeof raw, out + 6);
}

int sign_secret_key(const char *secret, unsigned char key[64])
{
    if (strncmp(secret, "whsec_", 6) != 0)
        return -1;
    const char *b = secret + 6;
    size_t n = strlen(b);
    if (n < 24 || n > 88)
        return -1;
    unsigned char tmp[72];
    long len = b64_decode(b, n, tmp);
    if (len < 16 || len > 64)
        return -1;
    memcpy(key, tmp, (size_t)len);
    return (int)len;
}

bool sign_secret_valid(const char *s)
{
    unsigned char key[64];
    /* EVP_DecodeBlock skips no characters silently except whitespace; reject
     * whitespace explicitly so a pasted secret with a newline fails loudly. */
    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            return false;
    return sign_secret_key(s, key) > 0;
}

void sign_v1(const unsigned char *key, int key_len, const char *msg_id, int64_t timestamp,
             const char *body, size_t body_len, char out[SIGN_SIG_MAX])
{
    char ts[24];
    int tl = snprintf(ts, sizeof ts, "%lld", (long long)timestamp);
    HMAC_CTX *ctx = HMAC_CTX_new();
    unsigned char md[32];
    unsigned int mdlen = 0;
    HMAC_Init_ex(ctx, key, key_len, EVP_sha256(), NULL);
    HMAC_Update(ctx, (const unsigned char *)msg_id, strlen(msg_id));
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, (const unsigned char *)ts, (size_t)tl);
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, (const unsigned char *)body, body_len);
    HMAC_Final(ctx, md, &mdlen);
    HMAC_CTX_free(ctx);
    memcpy(out, "v1,", 3);
    b64_encode(md, mdlen, out + 3);
}

bool sign_v1_secret(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                    size_t body_len, char out[SIGN_SIG_MAX])
{
    unsigned char key[64];
    int kl = sign_secret_key(secret, key);
    if (kl < 0)
        return false;
    sign_v1(key, kl, msg_id, timestamp, body, body_len, out);
    return true;
}
