#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/cidr.h"
#include "core/util.h"

bool cidr_addr_parse(const char *s, unsigned char out[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, s, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return true;
    }
    struct in6_addr v6;
    if (inet_pton(AF_INET6, s, &v6) == 1) {
        memcpy(out, &v6, 16);
        return true;
    }
    return false;
}

bool cidr_addr_from_sockaddr(const struct sockaddr *sa, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

bool cidr_parse(const char *s, struct cidr *out)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl == 0 || hl >= sizeof host)
        return false;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (!cidr_addr_parse(host, out->addr))
        return false;
    bool v4 = strchr(host, ':') == NULL;
    int max = v4 ? 32 : 128;
    int64_t prefix = max;
    if (slash && !parse_int64(slash + 1, 0, max, &prefix))
        return false;
    out->prefix = (int)prefix + (v4 ? 96 : 0);
    return true;
}

bool cidr_contains(const struct cidr *c, const unsigned char addr[16])
{
    int bits = c->prefix;
    for (int i = 0; i < 16 && bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((c->addr[i] & mask) != (addr[i] & mask))
            return false;
    }
    return true;
}
