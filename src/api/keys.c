#include <string.h>

#include "api/keys.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/util.h"

static bool given_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 16 || n >= API_KEY_MAX - 4)
        return false;
    for (; *k; k++)
        if (*k <= ' ' || *k > '~' || *k == ':')
            return false;
    return true;
}

int api_key_new(struct store *s, const char *account_id, const char *role, const char *given,
                char key_out[API_KEY_MAX], char id_out[HERALD_ID_MAX])
{
    if (given && !given_key_ok(given))
        return HERALD_EINVAL;
    if (given) {
        str_copy(key_out, API_KEY_MAX, given);
    } else {
        unsigned char raw[20];
        random_bytes(raw, sizeof raw);
        memcpy(key_out, "hk_", 3);
        hex_encode(raw, sizeof raw, key_out + 3);
    }
    int64_t now = clock_now_ms();
    struct store_key k = {0};
    id_new(k.id, "key", now);
    str_copy(k.account_id, sizeof k.account_id, account_id);
    str_copy(k.role, sizeof k.role, role);
    sha256_hex(key_out, strlen(key_out), k.hash);
    memcpy(k.prefix, key_out, 8);
    k.prefix[8] = '\0';
    k.created_at = now;
    int rc = s->ops->key_create(s, &k);
    if (rc == 0)
        str_copy(id_out, HERALD_ID_MAX, k.id);
    return rc;
}
