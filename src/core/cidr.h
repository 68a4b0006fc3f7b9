/*
 * cidr.h — IP ranges, for --allow-cidr and the SSRF guard.
 *
 * Addresses are kept as 16 bytes; IPv4 is stored IPv4-mapped
 * (::ffff:a.b.c.d) so one comparison covers both families.
 */
#ifndef HERALD_CORE_CIDR_H
#define HERALD_CORE_CIDR_H

#include <stdbool.h>
#include <sys/socket.h>

struct cidr {
    unsigned char addr[16];
    int prefix; /* 0..128, counted on the 16-byte form */
};

/* Parses "10.0.0.0/8", "::1/128", or a bare address (full length). */
bool cidr_parse(const char *s, struct cidr *out);

/* Converts a sockaddr (AF_INET or AF_INET6) to the 16-byte form. */
bool cidr_addr_from_sockaddr(const struct sockaddr *sa, unsigned char out[16]);

/* Parses a textual IPv4 or IPv6 address (no brackets) to the 16-byte form. */
bool cidr_addr_parse(const char *s, unsigned char out[16]);

bool cidr_contains(const struct cidr *c, const unsigned char addr[16]);

#endif
