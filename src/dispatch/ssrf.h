/*
 * ssrf.h — the guard that decides, on the resolved socket address at
 * connect time, whether herald may open a connection (DESIGN.md §6).
 *
 * The decision is made on the address libcurl is about to connect to,
 * never on URL text, so every literal encoding of an address (2130706433,
 * 0x7f.1, 0177.0.0.1, 127.1, [::ffff:127.0.0.1]) and every DNS answer,
 * including one that changes between lookups, is judged the same way.
 */
#ifndef HERALD_DISPATCH_SSRF_H
#define HERALD_DISPATCH_SSRF_H

#include <curl/curl.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "core/config.h"

/* True when herald may connect to sa. Refused: loopback, private,
 * link-local, CGNAT, documentation, benchmarking, multicast and reserved
 * IPv4 ranges; ::, ::1, fe80::/10, fec0::/10 (deprecated site-local),
 * fc00::/7, ff00::/8, 2001:db8::/32; and the IPv4-mapped, IPv4-compatible,
 * NAT64, 6to4 and Teredo forms of a refused IPv4 address. cfg->dev allows
 * loopback (127/8, ::1; not its tunnelled forms). An
 * --allow-cidr range allows what it covers, except the cloud metadata
 * addresses 169.254.169.254 and fd00:ec2::254, which stay refused unless an
 * allow entry names exactly that address (/32 or /128). Any family other
 * than AF_INET and AF_INET6 is refused. */
bool ssrf_allowed(const struct herald_config *cfg, const struct sockaddr *sa);

/* The same decision on the 16-byte form of cidr.h (IPv4 as ::ffff:a.b.c.d). */
bool ssrf_addr_allowed(const struct herald_config *cfg, const unsigned char addr[16]);

/* CURLOPT_OPENSOCKETFUNCTION: clientp is the struct attempt (send.h) being
 * performed. Refused addresses set the attempt's blocked flag, log at debug
 * level and return CURL_SOCKET_BAD (libcurl then tries the next address or
 * fails with CURLE_COULDNT_CONNECT); allowed ones get a fresh socket. */
curl_socket_t ssrf_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr);

#endif
