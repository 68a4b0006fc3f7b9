/*
 * verify_request.h — the one parser of `herald verify`: a saved HTTP
 * request (request line, headers, blank line, body), as a receiver got it
 * and a person saved it. Both modes of the command read what it finds:
 * the Standard Webhooks headers and every dialect's headers are looked up
 * by name in the same list (verify_request_header), so a saved request is
 * judged by one set of rules whatever --scheme says. Exposed for the unit
 * tests and fuzz targets; the command itself is cli_verify().
 *
 * The rules, and why. A saved request passed through editors, shells and
 * log viewers, so the parser forgives what they do to it and never lets a
 * damaged line decide what the lines after it mean:
 *
 *  - Lines end in LF or CRLF: one CR before the LF is dropped. A CR
 *    elsewhere is part of its line.
 *  - Empty lines before the request line are skipped (RFC 9112 §2.2 asks
 *    servers to do so); the request line itself is not read.
 *  - The first empty line after the request line ends the headers. The
 *    body is every byte after it, as it is: NULs, CRs and a missing final
 *    line end included, since the signature covers every byte. Without
 *    such a line there is no body to check, and the parse fails.
 *  - A header is "Name: value". The name is every byte before the first
 *    colon, as it is; the value every byte after it but the blanks (space,
 *    tab) that start it. Blanks that end a value are kept: herald sends
 *    none, so a saved request that has some was edited, and the tool
 *    checks the bytes it is given. A continuation line (obs-fold) is not
 *    joined to the header above it: it is a line of its own.
 *  - A line of the header block that has no colon, or that holds a NUL,
 *    is junk: it is skipped and counted, and the headers after it are
 *    read as usual. A NUL would cut a name or value short as a C string,
 *    so that header would be read as something it does not say (and an
 *    HTTP server refuses it, RFC 9110 §5.5); skipping it is the honest
 *    reading, and a header it hid then shows up as missing.
 *  - Names match without regard to case (ASCII), as HTTP's do.
 *  - A repeated header: the first one counts, in both modes. A sender
 *    never needs to repeat one, since the headers that carry signatures
 *    hold several in one value (space-separated "v1,…" entries in
 *    webhook-signature, ",v1=…" in a Stripe-style header), and herald
 *    sends each header once; a repeat comes from a proxy or an edit. The
 *    first is what herald listen (libmicrohttpd's lookup), Python's
 *    http.server and email.message and Go's Header.Get answer; WSGI
 *    servers (Flask's among them) and Node join the repeats with commas
 *    instead. An empty first value counts too: it is missing, whatever
 *    follows.
 *  - At most VERIFY_REQUEST_HEADERS_MAX headers are kept; the ones after
 *    those are counted in dropped and not looked up (a header first seen
 *    there is missing), but the body is still found behind them.
 *    cli_verify() says so on stderr, and says when lines were skipped.
 */
#ifndef HERALD_CLI_VERIFY_REQUEST_H
#define HERALD_CLI_VERIFY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#define VERIFY_REQUEST_HEADERS_MAX 256

/* Every header, in order, and the body. Names and values are C strings
 * cut out of the text given to verify_request_parse(), and the body
 * points into it: all stay valid while that text does. Nothing is
 * allocated, so there is nothing to release. */
struct verify_request {
    size_t n; /* headers kept */
    const char *name[VERIFY_REQUEST_HEADERS_MAX], *value[VERIFY_REQUEST_HEADERS_MAX];
    size_t skipped; /* junk lines of the header block: no colon, or a NUL */
    size_t dropped; /* headers past VERIFY_REQUEST_HEADERS_MAX */
    const char *body;
    size_t body_len;
};

/* Parses text[0..len) by the rules above; text need not end in a NUL.
 * True when the headers end in an empty line: the header block is then
 * cut up in place (the end of each header line and the colon after each
 * name become NULs) and the body's bytes are left as they are. False
 * when there is no such line: text is left untouched, and r holds no
 * headers and no body. */
bool verify_request_parse(struct verify_request *r, char *text, size_t len);

/* The value of the first header named name (any case) of the struct
 * verify_request ctx, or NULL: a herald_header_fn, for
 * herald_verify_request() in every scheme. */
const char *verify_request_header(void *ctx, const char *name);

#endif
