/* Unit tests of store/seal.c: secrets at rest. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/seal.h"

static const char *K1 = "0123456789abcdef0123456789abcdef-one";
static const char *K2 = "0123456789abcdef0123456789abcdef-two";
static const char *SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

static void test_roundtrip_and_binding(void **state)
{
    (void)state;
    struct seal_keys k;
    assert_int_equal(seal_keys_derive(&k, K1, NULL), 0);
    char *sealed = NULL, *opened = NULL;
    assert_int_equal(seal_value(&k, "wh_A", SECRET, &sealed), 0);
    assert_int_equal(strncmp(sealed, "enc:", 4), 0);
    assert_null(strstr(sealed, "MfKQ9r8")); /* the secret is not in the stored text */
    assert_int_equal(seal_open(&k, "wh_A", sealed, &opened), 0);
    assert_string_equal(opened, SECRET);
    free(opened);
    /* Bound to its webhook: the same bytes under another id do not open. */
    assert_int_equal(seal_open(&k, "wh_B", sealed, &opened), HERALD_ECRYPTO);
    /* Tampering with any byte is caught by the tag. */
    size_t n = strlen(sealed);
    sealed[n - 6] = sealed[n - 6] == 'A' ? 'B' : 'A';
    assert_int_equal(seal_open(&k, "wh_A", sealed, &opened), HERALD_ECRYPTO);
    free(sealed);
}

static void test_rotation(void **state)
{
    (void)state;
    struct seal_keys old, rotated, other;
    assert_int_equal(seal_keys_derive(&old, K1, NULL), 0);
    assert_int_equal(seal_keys_derive(&rotated, K2, K1), 0);
    assert_int_equal(seal_keys_derive(&other, K2, NULL), 0);
    char *sealed = NULL, *opened = NULL;
    assert_int_equal(seal_value(&old, "wh_A", SECRET, &sealed), 0);
    assert_int_equal(seal_open(&rotated, "wh_A", sealed, &opened), 0); /* previous key opens */
    assert_string_equal(opened, SECRET);
    free(opened);
    assert_int_equal(seal_open(&other, "wh_A", sealed, &opened), HERALD_ECRYPTO);
    free(sealed);
}

static void test_plaintext_passes_and_short_keys_refused(void **state)
{
    (void)state;
    struct seal_keys k;
    assert_int_equal(seal_keys_derive(&k, "too short", NULL), HERALD_EINVAL);
    assert_int_equal(seal_keys_derive(&k, K1, "short"), HERALD_EINVAL);
    assert_int_equal(seal_keys_derive(&k, K1, NULL), 0);
    char *opened = NULL;
    assert_int_equal(seal_open(&k, "wh_A", SECRET, &opened), 0);
    assert_string_equal(opened, SECRET);
    free(opened);
    assert_int_equal(seal_open(&k, "wh_A", "enc:!!notbase64", &opened), HERALD_ECRYPTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_binding),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_plaintext_passes_and_short_keys_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
