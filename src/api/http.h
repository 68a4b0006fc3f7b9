/*
 * http.h — what every API handler works with: the request as parsed by
 * server.c, the response it fills, and the helpers that keep every answer
 * in one shape.
 *
 * A handler never talks to libmicrohttpd to answer: it fills a struct
 * api_resp (status, body, a few headers) and server.c sends it. Every body
 * is JSON (application/json; charset=utf-8) except dashboard assets, every
 * error is {"error":{"code":…,"message":…,"field":…}} ("field" only when
 * one is to blame), and messages never carry internals (SQL, errno, paths).
 */
#ifndef HERALD_API_HTTP_H
#define HERALD_API_HTTP_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/validate.h"
#include "app.h"
#include "core/buf.h"
#include "core/id.h"

#define API_MAX_PARAMS 4
#define API_MAX_HEADERS 6

/* Who is calling, once auth.c has accepted the key. */
struct api_auth {
    char account_id[HERALD_ID_MAX]; /* the account every query is scoped to */
    char key_id[HERALD_ID_MAX];
    bool admin;
};

struct api_req {
    struct herald *h;
    struct MHD_Connection *conn;
    const char *method;                 /* "GET", … (HEAD is routed as GET) */
    const char *path;                   /* decoded path, no query string */
    const char *params[API_MAX_PARAMS]; /* {param} segments, in pattern order */
    size_t n_params;
    const char *body; /* NUL-terminated; "" when none */
    size_t body_len;
    struct api_auth auth;
    int64_t now; /* wall clock ms when the request was complete */
};

struct api_header {
    const char *name; /* static */
    char *value;      /* owned */
};

struct store_ingest;
struct api_resp;

/* An answer that waits for a group commit (ingest). Such a handler does
 * not block: it validates, leaves its items in rs->pending (status 0) and
 * returns; server.c commits them (store/commit.h) while the connection
 * waits, suspended, and then calls finish with the commit's result (0 or
 * the store's error) to fill the answer. release frees the whole object,
 * whether or not the commit happened. */
struct api_pending {
    struct store_ingest *items;
    size_t n;
    void (*finish)(struct api_pending *p, int rc, struct api_resp *rs);
    void (*release)(struct api_pending *p);
};

struct api_resp {
    int status;                  /* 0 until a handler answers */
    struct api_pending *pending; /* owned: set instead of an answer (above) */
    char *body;                  /* owned (malloc); NULL with static_body or none */
    const void *static_body;     /* borrowed, lives forever (embedded assets) */
    size_t len;
    const char *content_type; /* static; NULL: no body */
    struct api_header headers[API_MAX_HEADERS];
    size_t n_headers;
};

typedef void (*api_handler)(struct api_req *rq, struct api_resp *rs);

#define API_JSON_TYPE "application/json; charset=utf-8"

/* The status codes herald answers with (libmicrohttpd renames some of its
 * constants between versions; these never change). */
enum http_status {
    HTTP_OK = 200,
    HTTP_CREATED = 201,
    HTTP_ACCEPTED = 202,
    HTTP_NO_CONTENT = 204,
    HTTP_BAD_REQUEST = 400,
    HTTP_UNAUTHORIZED = 401,
    HTTP_FORBIDDEN = 403,
    HTTP_NOT_FOUND = 404,
    HTTP_METHOD_NOT_ALLOWED = 405,
    HTTP_CONFLICT = 409,
    HTTP_TOO_LARGE = 413,
    HTTP_UNSUPPORTED_MEDIA_TYPE = 415,
    HTTP_UNPROCESSABLE = 422,
    HTTP_TOO_MANY_REQUESTS = 429,
    HTTP_HEADERS_TOO_LARGE = 431,
    HTTP_INTERNAL = 500,
    HTTP_UNAVAILABLE = 503,
};

/* Frees what rs holds; rs can be reused afterwards. */
void resp_release(struct api_resp *rs);

/* Adds a header (value copied). Extra headers past API_MAX_HEADERS are
 * dropped, which only a programming error can cause. */
void resp_header(struct api_resp *rs, const char *name, const char *value);

/* Answers status with doc serialised compactly; takes ownership of doc. */
void resp_json(struct api_resp *rs, int status, cJSON *doc);

/* Answers status with the JSON text in b (written by hand where a cJSON
 * tree would cost more than the request); empties b. append_rc is the
 * first error appending to b met (0: none), which answers 500 instead. */
void resp_json_text(struct api_resp *rs, int status, struct buf *b, int append_rc);

/* Appends s to b as a JSON string, quotes included. Returns 0 or buf.h's
 * error. */
int json_put_string(struct buf *b, const char *s);

/* Answers with no body (204). */
void resp_empty(struct api_resp *rs, int status);

/* Answers an error. field may be NULL or "" (the answer then names no
 * field). Bytes of the message and field that are not well-formed UTF-8
 * are dropped (utf8_scrub), so callers may quote client input cut
 * anywhere; a field left empty by that is left out too. */
void resp_error(struct api_resp *rs, int status, const char *code, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* 422 validation_failed from a validator's verdict. */
void resp_verr(struct api_resp *rs, const struct verr *e);

/* Answers a failed store call: HERALD_ENOTFOUND 404 "<what> not found",
 * HERALD_ECONFLICT 409, HERALD_ETOOBIG 413, anything else 503
 * {"code":"unavailable"} with Retry-After: 1 (nothing was committed, the
 * client may try again). */
void resp_store_error(struct api_resp *rs, int rc, const char *what);

/* A query-string argument (decoded), or NULL. */
const char *req_query(const struct api_req *rq, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *req_header(const struct api_req *rq, const char *name);

/* Parses the body into a JSON object. An empty body gives {}. JSON bodies
 * (Content-Type application/json, or none) must be one object; with
 * allow_form, application/x-www-form-urlencoded is parsed by form.c and
 * *from_form set. A "form" body that starts with '{' is read as JSON (curl
 * -d '{…}' sends JSON labelled as a form). Otherwise answers 400 malformed_json / 400 invalid_body
 * / 415 unsupported_media_type and returns false. from_form may be NULL. */
bool req_object(struct api_req *rq, struct api_resp *rs, bool allow_form, cJSON **out,
                bool *from_form);

/* req_object, for bodies with a member kept byte for byte (an event's
 * "data", a type's "sample"). A JSON \u0000 escape is refused with 422
 * naming its member, because cJSON would silently cut the string there;
 * only inside raw_member's value (which is never read through cJSON) is
 * it allowed. */
bool req_object_raw(struct api_req *rq, struct api_resp *rs, bool allow_form,
                    const char *raw_member, cJSON **out, bool *from_form);

/* Answers 422 naming the first member of body not in allowed (a
 * NULL-terminated list) and returns false; true when all are known. */
bool req_known_fields(const cJSON *body, const char *const *allowed, struct api_resp *rs);

/* Reads an optional string member: *out is NULL when absent (or null);
 * answers 422 naming the field when it is not a string. */
bool req_string(const cJSON *body, const char *field, const char **out, struct api_resp *rs);

/* Reads page (>= 0, default 0) and count (20, 25, 50 or 100; default 20)
 * from the query, also under seed 004's names _page and _count. Answers 422
 * naming the field and returns false when malformed. */
bool req_paging(struct api_req *rq, struct api_resp *rs, int *page, int *count);

/* Reads a time filter (RFC 3339 or unix seconds); 0 when absent. Answers
 * 422 naming the field and returns false when malformed. */
bool req_time(struct api_req *rq, struct api_resp *rs, const char *name, int64_t *out);

/* Parses an integer query value strictly (digits only, optional '-'). */
bool parse_strict_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* The path parameter i, checked with id_valid(prefix); NULL (after a 404
 * "<what> not found") when it cannot be an id of that kind, so malformed
 * ids never reach the store. */
const char *req_id(struct api_req *rq, struct api_resp *rs, size_t i, const char *prefix,
                   const char *what);

/* JSON building helpers. Times are RFC 3339 with milliseconds; 0 is null. */
void json_add_time(cJSON *o, const char *key, int64_t ms);
/* Adds raw JSON text verbatim when it is strict JSON (jsonspan.h), null
 * otherwise, so a damaged row can never break the answer's syntax. */
void json_add_raw(cJSON *o, const char *key, const char *text, size_t len);
/* Adds s[0..n) as a JSON string, with every byte sequence that is not
 * UTF-8 (and NUL) replaced by U+FFFD, for text herald did not write itself
 * (receivers' response bodies). */
void json_add_text(cJSON *o, const char *key, const char *s, size_t n);
/* Wraps items into {"items":[…],"total":N,"page":P,"count":C}. */
cJSON *json_list(cJSON *items, int64_t total, int page, int count);

#endif
