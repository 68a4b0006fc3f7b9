/* libFuzzer target for seal_open (src/store/seal.c), which reads sealed
 * webhook secrets back from the database: whatever a damaged or tampered
 * row holds must be refused cleanly (HERALD_ECRYPTO) or, for values
 * without the "enc:" prefix, passed through unchanged; and a value sealed
 * with the same keys always opens to what was sealed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "store/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct seal_keys k;
    static int init;
    if (!init) {
        init = 1;
        if (seal_keys_derive(&k, "fuzz-master-key-fuzz-master-key-0123",
                             "fuzz-previous-key-fuzz-previous-key-99") != 0)
            abort();
    }
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *out = NULL;
    int rc = seal_open(&k, "wh_01FUZZ", s, &out);
    if (rc == 0) {
        if (!out || (strncmp(s, "enc:", 4) != 0 && strcmp(out, s) != 0))
            abort();
        free(out);
    } else if (rc != HERALD_ECRYPTO || out) {
        abort();
    }
    /* Round trip: the input as a secret. */
    char *sealed = NULL, *opened = NULL;
    if (seal_value(&k, "wh_01FUZZ", s, &sealed) != 0 ||
        seal_open(&k, "wh_01FUZZ", sealed, &opened) != 0 || strcmp(opened, s) != 0)
        abort();
    /* Another webhook's id as associated data does not open it. */
    char *other = NULL;
    if (seal_open(&k, "wh_01OTHER", sealed, &other) != HERALD_ECRYPTO)
        abort();
    free(sealed);
    free(opened);
    free(s);
    return 0;
}
