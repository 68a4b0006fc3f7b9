/*
 * verify_request.h — the parser of `herald verify`: one saved HTTP request
 * (request line, headers, blank line, body), as a receiver got it.
 * Exposed for the fuzz target; the command itself is cli_verify().
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

#endif
