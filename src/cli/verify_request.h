/*
 * verify_request.h — the parser of `herald verify`: one saved HTTP request
 * (request line, headers, blank line, body), as a receiver got it.
 * Exposed for the fuzz targets; the command itself is cli_verify().
 */
#ifndef HERALD_CLI_VERIFY_REQUEST_H
#define HERALD_CLI_VERIFY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

/* The three Standard Webhooks headers (NULL when absent) and the body.
 * Every pointer points into the text given to verify_parse_request(). */
struct verify_request {
    char *id, *timestamp, *signature;
    const char *body;
    size_t body_len;
};

/* Parses text[0..len) in place (line ends and header colons become NULs;
 * the body is left as it is). Lines may end in CRLF or LF, since saved
 * requests pass through editors and shells; header names match without
 * regard to case; the first line (the request line) is skipped. False
 * when there is no blank line ending the headers. r must be zeroed. */
bool verify_parse_request(char *text, size_t len, struct verify_request *r);

/* Every header of a saved request, for the dialects, which read headers
 * by name (herald_header_fn). Parsed from a copy of the text, since
 * verify_parse_request() cuts up the original. */
#define SAVED_HEADERS_MAX 256
struct saved_headers {
    char *copy; /* owned: the text up to its first NUL, cut up */
    size_t n;
    const char *name[SAVED_HEADERS_MAX], *value[SAVED_HEADERS_MAX]; /* into copy */
};

/* Parses the headers of text[0..len) (which need not be NUL-terminated):
 * the first line (the request line) is skipped, then each "Name: value"
 * line is kept, blanks before the value dropped and a CR before the LF
 * too, until a blank line, a line without a colon, the end of the text
 * (or its first NUL) or SAVED_HEADERS_MAX headers. Never fails; release
 * h with saved_headers_release(), which frees what names and values point
 * into. */
void saved_headers_parse(struct saved_headers *h, const char *text, size_t len);
/* The value of the first header named name (any case) of the
 * struct saved_headers ctx, or NULL: a herald_header_fn. */
const char *saved_header(void *ctx, const char *name);
void saved_headers_release(struct saved_headers *h);

#endif
