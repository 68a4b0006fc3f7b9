/* Unit tests of src/sign and the receiver library (include/herald/verify.h):
 * herald's signatures against the Standard Webhooks test vector and against
 * an independent HMAC computed here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "core/util.h"
#include "herald/verify.h"
#include "sign/sign.h"

/* The example from the Standard Webhooks specification's reference
 * libraries (their test suites use this secret, id, timestamp and body). */
static const char *SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char *SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const int64_t SPEC_TS = 1614265330;
static const char *SPEC_BODY = "{\"test\": 2432232314}";
static const char *SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

static void test_spec_vector(void **state)
{
    (void)state;
    char sig[SIGN_SIG_MAX];
    assert_true(sign_v1_secret(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), sig));
    assert_string_equal(sig, SPEC_SIG);
    assert_int_equal(herald_verify(SPEC_SECRET, SPEC_ID, "1614265330", SPEC_SIG, SPEC_BODY,
                                   strlen(SPEC_BODY), SPEC_TS, 300),
                     HERALD_VERIFY_OK);
}

static void test_independent_hmac(void **state)
{
    (void)state;
    char secret[SIGN_SECRET_MAX];
    sign_secret_new(secret);
    assert_true(sign_secret_valid(secret));
    assert_int_equal(strncmp(secret, "whsec_", 6), 0);
    unsigned char key[64];
    assert_int_equal(sign_secret_key(secret, key), 32);

    const char *body = "{\"id\":\"evt_1\",\"data\":{\"a\":1}}";
    char sig[SIGN_SIG_MAX];
    assert_true(sign_v1_secret(secret, "evt_1", 1700000000, body, strlen(body), sig));

    char content[256];
    int n = snprintf(content, sizeof content, "evt_1.1700000000.%s", body);
    unsigned char md[32];
    unsigned int mdlen;
    HMAC(EVP_sha256(), key, 32, (const unsigned char *)content, (size_t)n, md, &mdlen);
    char expected[64] = "v1,";
    EVP_EncodeBlock((unsigned char *)expected + 3, md, (int)mdlen);
    assert_string_equal(sig, expected);
}

/* The prepared key against OpenSSL's one-shot HMAC for key lengths around
 * the 64-byte block (a longer key is hashed first) and bodies around it. */
static void test_prepared_key_matches_hmac(void **state)
{
    (void)state;
    static const size_t key_lens[] = {1, 16, 32, 63, 64, 65, 100, 200};
    static const size_t body_lens[] = {0, 1, 55, 64, 119, 600, 4096};
    unsigned char key[200];
    char body[4096];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 37 + 11);
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)('a' + i % 26);
    for (size_t k = 0; k < sizeof key_lens / sizeof *key_lens; k++) {
        struct sign_key sk;
        sign_key_init(&sk, key, key_lens[k]);
        for (size_t b = 0; b < sizeof body_lens / sizeof *body_lens; b++) {
            char sig[SIGN_SIG_MAX];
            sign_v1_prepared(&sk, "msg_1", 1700000000, body, body_lens[b], sig);

            char content[4200];
            int n =
                snprintf(content, sizeof content, "msg_1.1700000000.%.*s", (int)body_lens[b], body);
            unsigned char md[32];
            unsigned int mdlen;
            HMAC(EVP_sha256(), key, (int)key_lens[k], (const unsigned char *)content, (size_t)n, md,
                 &mdlen);
            char expected[64] = "v1,";
            EVP_EncodeBlock((unsigned char *)expected + 3, md, (int)mdlen);
            assert_string_equal(sig, expected);
        }
    }
}

static void test_secret_validation(void **state)
{
    (void)state;
    assert_true(sign_secret_valid(SPEC_SECRET));
    assert_false(sign_secret_valid("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")); /* no prefix */
    assert_false(sign_secret_valid("whsec_"));
    assert_false(sign_secret_valid("whsec_short"));
    assert_false(sign_secret_valid("whsec_test_1234222222232s334weee")); /* not base64 */
    assert_false(sign_secret_valid("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"));
}

static void test_verify_rejects(void **state)
{
    (void)state;
    const size_t len = strlen(SPEC_BODY);
    /* A rotated secret sends two signatures; either may match. */
    assert_int_equal(herald_verify(SPEC_SECRET, SPEC_ID, "1614265330",
                                   "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= "
                                   "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                                   SPEC_BODY, len, SPEC_TS, 300),
                     HERALD_VERIFY_OK);
    assert_int_equal(herald_verify(SPEC_SECRET, SPEC_ID, "1614265330", SPEC_SIG, "{\"test\":1}", 10,
                                   SPEC_TS, 300),
                     HERALD_VERIFY_MISMATCH);
    assert_int_equal(herald_verify(SPEC_SECRET, "msg_other", "1614265330", SPEC_SIG, SPEC_BODY, len,
                                   SPEC_TS, 300),
                     HERALD_VERIFY_MISMATCH);
    assert_int_equal(herald_verify(SPEC_SECRET, SPEC_ID, "1614265330", SPEC_SIG, SPEC_BODY, len,
                                   SPEC_TS + 301, 300),
                     HERALD_VERIFY_TOO_OLD);
    assert_int_equal(herald_verify(SPEC_SECRET, SPEC_ID, "1614265330", SPEC_SIG, SPEC_BODY, len,
                                   SPEC_TS - 301, 300),
                     HERALD_VERIFY_TOO_OLD);
    assert_int_equal(
        herald_verify(SPEC_SECRET, SPEC_ID, "16142x", SPEC_SIG, SPEC_BODY, len, SPEC_TS, 300),
        HERALD_VERIFY_BAD_TIMESTAMP);
    assert_int_equal(
        herald_verify(SPEC_SECRET, SPEC_ID, "1614265330", "", SPEC_BODY, len, SPEC_TS, 300),
        HERALD_VERIFY_MISSING_HEADER);
    assert_int_equal(
        herald_verify("whsec_!!!!", SPEC_ID, "1614265330", SPEC_SIG, SPEC_BODY, len, SPEC_TS, 300),
        HERALD_VERIFY_BAD_SECRET);
    /* A v2-looking entry with the right bytes does not count as v1. */
    assert_int_equal(herald_verify(SPEC_SECRET, SPEC_ID, "1614265330",
                                   "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SPEC_BODY,
                                   len, SPEC_TS, 300),
                     HERALD_VERIFY_MISMATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),
        cmocka_unit_test(test_independent_hmac),
        cmocka_unit_test(test_prepared_key_matches_hmac),
        cmocka_unit_test(test_secret_validation),
        cmocka_unit_test(test_verify_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
