#include <openssl/crypto.h>
#include <openssl/sha.h>
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

void sign_key_init(struct sign_key *k, const unsigned char *key, size_t key_len)
{
    unsigned char block[SHA256_CBLOCK], pad[SHA256_CBLOCK];
    memset(block, 0, sizeof block);
    if (key_len > sizeof block)
        SHA256(key, key_len, block);
    else
        memcpy(block, key, key_len);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, sizeof pad);
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

void sign_v1_prepared(const struct sign_key *k, const char *msg_id, int64_t timestamp,
                      const char *body, size_t body_len, char out[SIGN_SIG_MAX])
{
    char ts[24];
    int tl = snprintf(ts, sizeof ts, ".%lld.", (long long)timestamp);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_CTX c = k->inner; /* a plain struct: copying it is the whole "reset" */
    SHA256_Update(&c, msg_id, strlen(msg_id));
    SHA256_Update(&c, ts, (size_t)tl);
    SHA256_Update(&c, body, body_len);
    SHA256_Final(md, &c);
    c = k->outer;
    SHA256_Update(&c, md, sizeof md);
    SHA256_Final(md, &c);
    OPENSSL_cleanse(&c, sizeof c);
    memcpy(out, "v1,", 3);
    b64_encode(md, sizeof md, out + 3);
}

void sign_v1(const unsigned char *key, int key_len, const char *msg_id, int64_t timestamp,
             const char *body, size_t body_len, char out[SIGN_SIG_MAX])
{
    struct sign_key k;
    sign_key_init(&k, key, key_len > 0 ? (size_t)key_len : 0);
    sign_v1_prepared(&k, msg_id, timestamp, body, body_len, out);
    OPENSSL_cleanse(&k, sizeof k);
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
