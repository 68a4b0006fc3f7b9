/* ssrf.c — the connect-time address guard (DESIGN.md §6, issue 4). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "core/cidr.h"
#include "core/log.h"
#include "core/util.h"
#include "dispatch/send.h"
#include "dispatch/ssrf.h"

struct v4_range {
    uint32_t net;
    int bits;
};

/* IPv4 ranges herald never connects to unless an --allow-cidr opens them. */
static const struct v4_range refused_v4[] = {
    {0x00000000u, 8},  /* 0.0.0.0/8 "this network" */
    {0x0a000000u, 8},  /* 10.0.0.0/8 private */
    {0x64400000u, 10}, /* 100.64.0.0/10 CGNAT */
    {0x7f000000u, 8},  /* 127.0.0.0/8 loopback */
    {0xa9fe0000u, 16}, /* 169.254.0.0/16 link-local, cloud metadata */
    {0xac100000u, 12}, /* 172.16.0.0/12 private */
    {0xc0000000u, 24}, /* 192.0.0.0/24 IETF protocol assignments */
    {0xc0000200u, 24}, /* 192.0.2.0/24 TEST-NET-1 */
    {0xc0a80000u, 16}, /* 192.168.0.0/16 private */
    {0xc6120000u, 15}, /* 198.18.0.0/15 benchmarking */
    {0xc6336400u, 24}, /* 198.51.100.0/24 TEST-NET-2 */
    {0xcb007100u, 24}, /* 203.0.113.0/24 TEST-NET-3 */
    {0xe0000000u, 4},  /* 224.0.0.0/4 multicast */
    {0xf0000000u, 4},  /* 240.0.0.0/4 reserved */
    {0xffffffffu, 32}, /* broadcast (inside 240/4; listed for the reader) */
};

#define METADATA_V4 0xa9fea9feu /* 169.254.169.254 */

/* fd00:ec2::254, the AWS IPv6 metadata endpoint. */
static const unsigned char metadata_v6[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
                                              0,    0,    0,    0,    0, 0, 0x02, 0x54};

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void mapped_form(uint32_t v4, unsigned char out[16])
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    out[12] = (unsigned char)(v4 >> 24);
    out[13] = (unsigned char)(v4 >> 16);
    out[14] = (unsigned char)(v4 >> 8);
    out[15] = (unsigned char)v4;
}

static bool v4_in_refused_range(uint32_t v4)
{
    for (size_t i = 0; i < ARRAY_SIZE(refused_v4); i++) {
        uint32_t mask = refused_v4[i].bits == 0 ? 0 : ~0u << (32 - refused_v4[i].bits);
        if ((v4 & mask) == refused_v4[i].net)
            return true;
    }
    return false;
}

static bool is_mapped(const unsigned char a[16])
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, 12) == 0;
}

static bool prefix_is(const unsigned char a[16], const unsigned char *p, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, p, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (p[whole] & mask);
}

/* IPv6 ranges refused in their own right (not as a form of IPv4). */
static bool v6_in_refused_range(const unsigned char a[16])
{
    static const unsigned char zero[16] = {0};
    static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char fe80[2] = {0xfe, 0x80};
    static const unsigned char fec0[2] = {0xfe, 0xc0}; /* deprecated site-local */
    static const unsigned char fc00[1] = {0xfc};
    static const unsigned char ff00[1] = {0xff};
    static const unsigned char doc[4] = {0x20, 0x01, 0x0d, 0xb8};
    return memcmp(a, zero, 16) == 0 || memcmp(a, one, 16) == 0 || prefix_is(a, fe80, 10) ||
           prefix_is(a, fec0, 10) || prefix_is(a, fc00, 7) || prefix_is(a, ff00, 8) ||
           prefix_is(a, doc, 32);
}

/* IPv6 forms that carry an IPv4 address a packet ends up at: IPv4-
 * compatible (::/96), NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48),
 * 6to4 (2002::/16, bits 16-48) and Teredo (2001::/32, client address in the
 * last 32 bits, inverted). The IPv4-mapped form is handled by the caller as
 * plain IPv4, since that is what a dual-stack socket connects to. */
static bool embedded_v4(const unsigned char a[16], uint32_t *v4)
{
    static const unsigned char zero12[12] = {0};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 0x01};
    static const unsigned char six_to_four[2] = {0x20, 0x02};
    static const unsigned char teredo[4] = {0x20, 0x01, 0x00, 0x00};
    if (memcmp(a, zero12, 12) == 0 || memcmp(a, nat64, 12) == 0 || prefix_is(a, nat64_local, 48)) {
        *v4 = get32(a + 12);
        return true;
    }
    if (prefix_is(a, six_to_four, 16)) {
        *v4 = get32(a + 2);
        return true;
    }
    if (prefix_is(a, teredo, 32)) {
        *v4 = get32(a + 12) ^ 0xffffffffu;
        return true;
    }
    return false;
}

/* True when an allow entry names exactly this 16-byte address. */
static bool named_exactly(const struct herald_config *cfg, const unsigned char a[16])
{
    for (size_t i = 0; i < cfg->n_allow; i++)
        if (cfg->allow[i].prefix == 128 && memcmp(cfg->allow[i].addr, a, 16) == 0)
            return true;
    return false;
}

static bool is_loopback(const unsigned char a[16])
{
    static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return (is_mapped(a) && a[12] == 127) || memcmp(a, one, 16) == 0;
}

/* Judges an IPv4 address: metadata needs an exact allow entry, an allow
 * range opens the rest, then the refused ranges apply. */
static bool v4_allowed(const struct herald_config *cfg, uint32_t v4)
{
    unsigned char m[16];
    mapped_form(v4, m);
    if (v4 == METADATA_V4)
        return named_exactly(cfg, m);
    if (config_allowed(cfg, m))
        return true;
    if (cfg->dev && is_loopback(m))
        return true;
    return !v4_in_refused_range(v4);
}

bool ssrf_addr_allowed(const struct herald_config *cfg, const unsigned char a[16])
{
    if (is_mapped(a))
        return v4_allowed(cfg, get32(a + 12));
    if (memcmp(a, metadata_v6, 16) == 0)
        return named_exactly(cfg, a);
    /* Tunnelled forms of the metadata address never ride on a wide range. */
    uint32_t v4 = 0;
    bool embeds = embedded_v4(a, &v4);
    if (embeds && v4 == METADATA_V4) {
        unsigned char m[16];
        mapped_form(v4, m);
        return named_exactly(cfg, a) || named_exactly(cfg, m);
    }
    if (config_allowed(cfg, a))
        return true;
    if (cfg->dev && is_loopback(a))
        return true;
    if (v6_in_refused_range(a))
        return false;
    /* The embedded address is judged without the dev exception: a
     * tunnelled loopback reaches some relay's loopback, not this host's. */
    if (embeds) {
        unsigned char m[16];
        mapped_form(v4, m);
        return config_allowed(cfg, m) || !v4_in_refused_range(v4);
    }
    return true;
}

bool ssrf_allowed(const struct herald_config *cfg, const struct sockaddr *sa)
{
    unsigned char a[16];
    if (!sa || !cidr_addr_from_sockaddr(sa, a))
        return false;
    return ssrf_addr_allowed(cfg, a);
}

curl_socket_t ssrf_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct attempt *a = clientp;
    (void)purpose;
    if ((addr->family != AF_INET && addr->family != AF_INET6) ||
        !ssrf_allowed(a->cfg, &addr->addr)) {
        char text[INET6_ADDRSTRLEN] = "?";
        if (addr->family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&addr->addr)->sin_addr, text, sizeof text);
        else if (addr->family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr->addr)->sin6_addr, text,
                      sizeof text);
        a->blocked = true;
        log_kv(LOG_DEBUG, "connection blocked", "address", text, NULL);
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}
