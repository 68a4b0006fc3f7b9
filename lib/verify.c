/* verify.c — the receiver-side check of herald/verify.h. Self-contained on
 * purpose (only libcrypto), so receivers need none of herald's code. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/verify.h"

static int decode_key(const char *secret, unsigned char *key)
{
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    size_t n = strlen(secret);
    if (n == 0 || n % 4 != 0 || n > 88)
        return -1;
    int len = EVP_DecodeBlock(key, (const unsigned char *)secret, (int)n);
    if (len <= 0)
        return -1;
    if (secret[n - 1] == '=')
        len--;
    if (secret[n - 2] == '=')
        len--;
    return len;
}

static int const_eq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return 0;
    unsigned char acc = 0;
    for (size_t i = 0; i < an; i++)
        acc |= (unsigned char)(a[i] ^ b[i]);
    return acc == 0;
}

int herald_verify(const char *secret, const char *msg_id, const char *timestamp,
                  const char *signatures, const void *body, size_t body_len, int64_t now,
                  int64_t tolerance)
{
    if (!secret)
        return HERALD_VERIFY_BAD_SECRET;
    if (!msg_id || !*msg_id || !timestamp || !*timestamp || !signatures || !*signatures)
        return HERALD_VERIFY_MISSING_HEADER;
    unsigned char key[72];
    int key_len = decode_key(secret, key);
    if (key_len <= 0)
        return HERALD_VERIFY_BAD_SECRET;

    char *end = NULL;
    long long ts = strtoll(timestamp, &end, 10);
    if (end == timestamp || *end)
        return HERALD_VERIFY_BAD_TIMESTAMP;
    if (ts < now - tolerance || ts > now + tolerance)
        return HERALD_VERIFY_TOO_OLD;

    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    HMAC_CTX *ctx = HMAC_CTX_new();
    if (!ctx)
        return HERALD_VERIFY_MISMATCH;
    HMAC_Init_ex(ctx, key, key_len, EVP_sha256(), NULL);
    HMAC_Update(ctx, (const unsigned char *)msg_id, strlen(msg_id));
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, (const unsigned char *)timestamp, strlen(timestamp));
    HMAC_Update(ctx, (const unsigned char *)".", 1);
    HMAC_Update(ctx, body, body_len);
    HMAC_Final(ctx, md, &md_len);
    HMAC_CTX_free(ctx);
    char expected[64];
    int exp_len = EVP_EncodeBlock((unsigned char *)expected, md, (int)md_len);

    /* Walk the space-separated entries; only "v1," entries are ours. */
    int match = 0;
    const char *p = signatures;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *q = p;
        while (*q && *q != ' ')
            q++;
        if (q - p > 3 && strncmp(p, "v1,", 3) == 0)
            match |= const_eq(p + 3, (size_t)(q - p - 3), expected, (size_t)exp_len);
        p = q;
    }
    return match ? HERALD_VERIFY_OK : HERALD_VERIFY_MISMATCH;
}

const char *herald_verify_strerror(int result)
{
    switch (result) {
    case HERALD_VERIFY_OK:
        return "signature verified";
    case HERALD_VERIFY_BAD_SECRET:
        return "the secret is not whsec_ followed by base64";
    case HERALD_VERIFY_MISSING_HEADER:
        return "webhook-id, webhook-timestamp or webhook-signature is missing";
    case HERALD_VERIFY_BAD_TIMESTAMP:
        return "webhook-timestamp is not an integer";
    case HERALD_VERIFY_TOO_OLD:
        return "webhook-timestamp is outside the tolerance window";
    case HERALD_VERIFY_MISMATCH:
        return "no signature matches";
    default:
        return "unknown result";
    }
}
