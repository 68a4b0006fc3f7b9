/* Unit tests of src/api/keycache.c: what a cached key may do and for how
 * long. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "api/keycache.h"
#include "core/util.h"

static struct store_key key(const char *id, const char *text)
{
    struct store_key k = {0};
    str_copy(k.id, sizeof k.id, id);
    str_copy(k.account_id, sizeof k.account_id, "acct_X");
    str_copy(k.role, sizeof k.role, "account");
    sha256_hex(text, strlen(text), k.hash);
    return k;
}

static void test_hit_then_expiry(void **state)
{
    (void)state;
    struct store_key k = key("key_A", "hk_a"), out;
    keycache_put(&k, 1000, keycache_generation());
    assert_true(keycache_get(k.hash, 1000 + KEYCACHE_TTL_MS - 1, &out));
    assert_string_equal(out.id, "key_A");
    /* A hit does not extend the entry: past the TTL the store is asked. */
    assert_false(keycache_get(k.hash, 1000 + KEYCACHE_TTL_MS, &out));
}

static void test_forget_and_revoked(void **state)
{
    (void)state;
    struct store_key k = key("key_B", "hk_b"), out;
    keycache_put(&k, 5000, keycache_generation());
    keycache_forget("key_B");
    assert_false(keycache_get(k.hash, 5001, &out));
    k.revoked_at = 1;
    keycache_put(&k, 5000, keycache_generation()); /* revoked keys are never remembered */
    assert_false(keycache_get(k.hash, 5001, &out));
}

/* A record read from the store before a revocation on this node must not
 * be cached after it. */
static void test_put_after_forget_is_refused(void **state)
{
    (void)state;
    struct store_key k = key("key_D", "hk_d"), out;
    uint64_t gen = keycache_generation(); /* the reader starts... */
    keycache_forget("key_D");             /* ...the key is revoked... */
    keycache_put(&k, 7000, gen);          /* ...and the stale read lands */
    assert_false(keycache_get(k.hash, 7001, &out));
}

static void test_other_key_same_slot_misses(void **state)
{
    (void)state;
    struct store_key a = key("key_C", "hk_c"), out;
    keycache_put(&a, 9000, keycache_generation());
    char other[65];
    memcpy(other, a.hash, sizeof other);
    other[63] = other[63] == '0' ? '1' : '0'; /* same slot, different key */
    assert_false(keycache_get(other, 9001, &out));
    assert_true(keycache_get(a.hash, 9001, &out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_then_expiry),
        cmocka_unit_test(test_forget_and_revoked),
        cmocka_unit_test(test_put_after_forget_is_refused),
        cmocka_unit_test(test_other_key_same_slot_misses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
